"""The member directory: display names, extra meters and flexible assets of participants.

Registration (address, role, grid area, the member's meter) is on-chain in
``ParticipantRegistry`` and projected into ``participants``. What people call each other and
what they own is not chain data, and must not become public by being put there: it lives in
``member_directory``, one row per ``(chain_id, account)``, written by ``bright member ...``
and by a member's own ``PUT /profile``.

The table is not a projection. It lives on its own metadata (:data:`DirectoryBase`), so
:func:`streams.db.drop_read_models` (``bright index rebuild``) neither drops it nor counts it
as a read model; its migration (``0009_member_directory``) creates it only where it is
missing and keeps it on a rebuild's downgrade.

Assets (:func:`check_asset`): a heat pump, a battery, an EV charger or PV, with their main
ratings: ``power_kw`` (kW; for PV its peak, kWp) for each, and ``capacity_kwh`` (kWh) for a
battery only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, BigInteger, MetaData, String, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from streams.errors import ReadModelError
from streams.models import NAMING

ASSET_KINDS = ("heat-pump", "battery", "ev-charger", "pv")
NAME_MAX = 64
"""Most characters of a display name."""
NAME_PATTERN = r"^[^\x00-\x20\x7f-\xa0](?:[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0])?$"
"""A display name: no control characters, a visible first and last character."""
_NAME = re.compile(NAME_PATTERN)
POWER_MAX_KW = 10_000.0
CAPACITY_MAX_KWH = 100_000.0
ASSETS_MAX = 32
METERS_MAX = 16


class DirectoryError(ReadModelError, ValueError):
    """A directory entry that breaks its rules (a name, an asset or a meter)."""


class DirectoryBase(DeclarativeBase):
    """Tables that are not projections of the chain: never dropped by a rebuild."""

    metadata = MetaData(naming_convention=NAMING)


class DirectoryEntry(DirectoryBase):
    """One participant's directory entry (private: the API shows it as the address)."""

    __tablename__ = "member_directory"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(NAME_MAX), nullable=True)
    meters: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=list
    )
    assets: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=list
    )
    updated_s: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True)
class Profile:
    """A directory entry as plain values."""

    account: str
    display_name: str | None
    meters: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)


def check_display_name(name: Any) -> str:
    """``name`` without surrounding spaces; raises :class:`DirectoryError` unless it has 1 to
    64 characters, no control character, and starts and ends with a visible one
    (:data:`NAME_PATTERN`, the API schema's pattern too)."""
    if not isinstance(name, str) or not name.strip(" \t"):
        raise DirectoryError("a display name must not be empty")
    name = name.strip(" \t")
    if len(name) > NAME_MAX:
        raise DirectoryError(f"a display name has at most {NAME_MAX} characters, not {len(name)}")
    if _NAME.fullmatch(name) is None:
        raise DirectoryError(
            "a display name must not hold control characters, nor start or end with a space"
        )
    return name


def check_asset(asset: Mapping[str, Any]) -> dict[str, Any]:
    """One asset as stored: ``{"kind", "power_kw", "capacity_kwh", "label"}``.

    ``kind`` is one of :data:`ASSET_KINDS`; ``power_kw`` (kW, kWp for PV) is required and
    positive; ``capacity_kwh`` (kWh) is required for a battery and refused for the others;
    ``label`` (optional) is free text up to 64 characters."""
    kind = asset.get("kind")
    if kind not in ASSET_KINDS:
        raise DirectoryError(
            f"unknown asset kind {kind!r}; expected one of {', '.join(ASSET_KINDS)}"
        )
    power = _positive(asset.get("power_kw"), "power_kw", "kW", POWER_MAX_KW, kind)
    capacity = asset.get("capacity_kwh")
    if kind == "battery":
        if capacity is None:
            raise DirectoryError("a battery needs its capacity_kwh (kWh)")
        capacity = _positive(capacity, "capacity_kwh", "kWh", CAPACITY_MAX_KWH, kind)
    elif capacity is not None:
        raise DirectoryError(f"a {kind} has no capacity_kwh (only a battery has)")
    label = asset.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > NAME_MAX):
        raise DirectoryError(f"an asset's label is text of at most {NAME_MAX} characters")
    unknown = set(asset) - {"kind", "power_kw", "capacity_kwh", "label"}
    if unknown:
        raise DirectoryError(f"an asset has no field {', '.join(sorted(unknown))}")
    return {"kind": kind, "power_kw": power, "capacity_kwh": capacity, "label": label or None}


def check_assets(assets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = [check_asset(a) for a in assets]
    if len(out) > ASSETS_MAX:
        raise DirectoryError(f"at most {ASSETS_MAX} assets per member")
    return out


def check_meter(meter: Mapping[str, Any]) -> dict[str, Any]:
    """An extra meter (a sub-meter of an asset, a second connection): ``{"meter_id", "label"}``;
    the id is text of 1 to 32 bytes, as the registry's."""
    meter_id = meter.get("meter_id")
    if not isinstance(meter_id, str) or not meter_id.strip():
        raise DirectoryError("a meter id must not be empty")
    if len(meter_id.encode()) > 32:
        raise DirectoryError(f"a meter id has at most 32 bytes: {meter_id!r}")
    label = meter.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > NAME_MAX):
        raise DirectoryError(f"a meter's label is text of at most {NAME_MAX} characters")
    return {"meter_id": meter_id.strip(), "label": label or None}


def _positive(value: Any, name: str, unit: str, most: float, kind: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DirectoryError(
            f"the {kind}'s {name} must be a number of {unit}, not {value!r}"
        ) from None
    if not (0 < number <= most):
        raise DirectoryError(f"the {kind}'s {name} must be above 0 and at most {most:g} {unit}")
    return number


# ---- reads and writes (in the caller's session and transaction) --------------------------------


def _profile(row: DirectoryEntry) -> Profile:
    return Profile(row.account, row.display_name, list(row.meters or []), list(row.assets or []))


def get_profile(s: Session, chain_id: int, account: str) -> Profile | None:
    row = s.get(DirectoryEntry, (chain_id, account))
    return None if row is None else _profile(row)


def get_profiles(s: Session, chain_id: int, accounts: Iterable[str]) -> dict[str, Profile]:
    """The entries of ``accounts`` that exist, by account (one query)."""
    wanted = sorted(set(accounts))
    if not wanted:
        return {}
    rows = s.scalars(
        select(DirectoryEntry).where(
            DirectoryEntry.chain_id == chain_id, DirectoryEntry.account.in_(wanted)
        )
    )
    return {r.account: _profile(r) for r in rows}


def display_names(
    s: Session, chain_id: int, accounts: Iterable[str] | None = None
) -> dict[str, str]:
    """``{account: display name}`` of the chain's directory (only ``accounts``, when given)."""
    q = select(DirectoryEntry.account, DirectoryEntry.display_name).where(
        DirectoryEntry.chain_id == chain_id, DirectoryEntry.display_name.is_not(None)
    )
    if accounts is not None:
        wanted = sorted(set(accounts))
        if not wanted:
            return {}
        q = q.where(DirectoryEntry.account.in_(wanted))
    return {str(a): str(n) for a, n in s.execute(q)}


def put_profile(
    s: Session,
    chain_id: int,
    account: str,
    display_name: str | None = None,
    assets: Iterable[Mapping[str, Any]] | None = None,
    meters: Iterable[Mapping[str, Any]] | None = None,
) -> Profile:
    """Create or change ``account``'s entry: each argument given replaces that part (checked
    first)."""
    row = s.get(DirectoryEntry, (chain_id, account))
    checked_assets = None if assets is None else check_assets(assets)
    checked_meters = None if meters is None else [check_meter(m) for m in meters]
    if checked_meters is not None and len(checked_meters) > METERS_MAX:
        raise DirectoryError(f"at most {METERS_MAX} extra meters per member")
    if row is None:  # a new entry (without a name until one is given)
        row = DirectoryEntry(chain_id=chain_id, account=account, meters=[], assets=[])
        s.add(row)
    if display_name is not None:
        row.display_name = check_display_name(display_name)
    if checked_assets is not None:
        row.assets = checked_assets
    if checked_meters is not None:
        row.meters = checked_meters
    row.updated_s = int(time.time())
    s.flush()
    return _profile(row)


def add_asset(s: Session, chain_id: int, account: str, asset: Mapping[str, Any]) -> Profile:
    """Append one asset to ``account``'s entry (made when missing)."""
    current = get_profile(s, chain_id, account)
    assets = [] if current is None else current.assets
    return put_profile(s, chain_id, account, assets=[*assets, asset])


def add_meter(s: Session, chain_id: int, account: str, meter: Mapping[str, Any]) -> Profile:
    """Append one extra meter to ``account``'s entry (made when missing; the same id once)."""
    current = get_profile(s, chain_id, account)
    meters = [] if current is None else current.meters
    new = check_meter(meter)
    if current is not None and any(m["meter_id"] == new["meter_id"] for m in meters):
        return current
    return put_profile(s, chain_id, account, meters=[*meters, new])
