"""Who may see what (EFT-12, TLC-11, DMSFDR-11).

* Personal data (orders, own matches, balances, meter data, forecasts): its owner, and the
  aggregator the owner delegated to on-chain. The market operator also sees orders and matches
  (it clears the books). Anyone else: 403.
* Public market data (sessions, clearing prices and volumes, anonymised depth, per-session
  match aggregates): any logged-in member (an address with an on-chain role).
* Participant details (meter id, delegation): the participant, its aggregator, the DSO and the
  market operator.
* Chain events: public market events to members; an event with another member's data carries
  its arguments only for a party to it (or the role that needs it), otherwise it is redacted.
* Flexibility requests (terms, status, per-interval aggregates): any logged-in member. Opt-ins
  and coalition rows: the request's DSO, its coordinator, the market operator (and any
  aggregator while the request is open for proposals) see all; a member sees its own (and an
  aggregator its delegators'). A member's coordination account: as personal data, plus the
  market operator.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ForbiddenError
from api.security import AGGREGATOR, DSO, MARKET_OPERATOR, Claims
from api.service import Scope
from streams.models import Participant


def aggregator_of(db: Session, scope: Scope, member: str) -> str | None:
    return db.scalar(
        select(Participant.aggregator).where(
            Participant.chain_id == scope.chain_id, Participant.account == member
        )
    )


def is_owner_or_delegate(db: Session, scope: Scope, claims: Claims, owner: str) -> bool:
    if claims.address == owner:
        return True
    return aggregator_of(db, scope, owner) == claims.address


def require_personal(
    db: Session, scope: Scope, claims: Claims, owner: str, what: str, operator_ok: bool = False
) -> None:
    """Raise 403 unless ``claims`` may see ``owner``'s ``what``."""
    if operator_ok and claims.has(MARKET_OPERATOR):
        return
    if is_owner_or_delegate(db, scope, claims, owner):
        return
    raise ForbiddenError(
        f"{what} of {owner} are personal data: only that member (or its delegated aggregator"
        f"{', or the market operator' if operator_ok else ''}) may see them",
        details={"owner": owner, "you": claims.address},
    )


def sees_participant_details(db: Session, scope: Scope, claims: Claims, account: str) -> bool:
    if claims.has(DSO) or claims.has(MARKET_OPERATOR):
        return True
    return is_owner_or_delegate(db, scope, claims, account)


PUBLIC_EVENTS = frozenset(
    {
        ("FlexMarket", "SessionOpened"),
        ("FlexMarket", "SessionCleared"),
        ("FlexMarket", "OrderMatched"),
    }
)
ROLE_EVENTS = {"FlexMarket": MARKET_OPERATOR, "ParticipantRegistry": DSO}


def event_args_for(
    claims: Claims, contract: str, event: str, args: dict[str, Any]
) -> dict[str, Any] | None:
    """The arguments ``claims`` may see, or None (redacted)."""
    if (contract, event) in PUBLIC_EVENTS:
        return args
    if contract == "ParticipantRegistry" and claims.has(MARKET_OPERATOR):
        return args
    role = ROLE_EVENTS.get(contract)
    if role is not None and claims.has(role):
        return args
    if any(isinstance(v, str) and v == claims.address for v in args.values()):
        return args
    return None


# ---- flexibility requests and coalitions (FlexCoordination) -----------------------------------


def delegators_of(db: Session, scope: Scope, aggregator: str) -> set[str]:
    """The members who delegated to ``aggregator`` on-chain."""
    return set(
        db.scalars(
            select(Participant.account).where(
                Participant.chain_id == scope.chain_id, Participant.aggregator == aggregator
            )
        )
    )


def own_and_delegated(db: Session, scope: Scope, claims: Claims) -> set[str]:
    """Whose personal request figures ``claims`` may see: its own, and its delegators'."""
    return {claims.address} | delegators_of(db, scope, claims.address)


def sees_whole_request(claims: Claims, dso: str, coordinator: str | None, status: str) -> bool:
    """Whether ``claims`` sees every opt-in and coalition row of a request: its DSO, the
    coordinator of its coalition, the market operator, and, while the request is open for a
    proposal, any aggregator (the contract lets each active aggregator propose)."""
    if claims.has(MARKET_OPERATOR) or claims.address == dso:
        return True
    if coordinator is not None and claims.address == coordinator:
        return True
    return status == "open" and claims.has(AGGREGATOR)
