"""Display names beside addresses, with exactly the addresses' visibility.

A response that shows a participant's address in a field ``x`` has a sibling ``x_name``
(``trader_name``, ``member_name``, ``dso_name``, ...): the participant's display name from the
member directory (:mod:`streams.directory`). :func:`named` fills every such sibling from the
address the response shows, after the route has applied the access rules of
:mod:`api.access`: a name appears only where its address does, and an address the caller may
not see (hidden, or shown as null) has a null name. Events name the addresses in their shown
arguments in ``arg_names``. The directory itself (names, assets) is not public: it is never
on-chain and the API shows it only through these fields and ``/profile``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.service import Scope
from streams.directory import display_names

M = TypeVar("M")


def directory_names(db: Session, scope: Scope) -> dict[str, str]:
    """``{address: display name}`` of this chain's directory."""
    return display_names(db, scope.chain_id)


def named(payload: M, names: Mapping[str, str]) -> M:
    """``payload`` (a response model, at any depth) with every ``x_name`` field set to the
    display name of the address in its sibling ``x`` (None where ``x`` is None or unnamed)."""
    _fill(payload, names)
    return payload


def _fill(obj: Any, names: Mapping[str, str]) -> None:
    if isinstance(obj, BaseModel):
        fields = type(obj).model_fields
        for field in fields:
            base = field[: -len("_name")] if field.endswith("_name") else None
            if base is not None and base in fields:
                value = getattr(obj, base)
                setattr(obj, field, names.get(value) if isinstance(value, str) else None)
            else:
                _fill(getattr(obj, field), names)
    elif isinstance(obj, list):
        for item in obj:
            _fill(item, names)


def arg_names(args: Mapping[str, Any] | None, names: Mapping[str, str]) -> dict[str, str] | None:
    """The display names of the addresses among an event's shown (top-level) arguments."""
    if args is None:
        return None
    return {k: names[v] for k, v in args.items() if isinstance(v, str) and v in names}


def name_of(db: Session, scope: Scope, address: str) -> str | None:
    return display_names(db, scope.chain_id, [address]).get(address)
