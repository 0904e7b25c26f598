"""Who may see what (EFT-12, TLC-11, DMSFDR-11).

* Personal data (orders, own matches, balances, meter data, forecasts): its owner, and the
  aggregator the owner delegated to on-chain. The market operator also sees orders and matches
  (it clears the books). Anyone else: 403, which names no one; one order asked for by its id
  that is not the caller's answers exactly as a missing order (404), so ids (e.g. of the public
  ``OrderMatched`` events) cannot be tied to traders.
* Public market data (sessions, clearing prices and volumes, anonymised depth, per-session
  match aggregates): any logged-in member (an address with an on-chain role).
* Members' addresses (:func:`member_visible`): a prosumer's address is personal. A caller sees
  its own, its aggregator's, its delegators', and an aggregator also those of the members that
  opted in to a request it sees whole; the DSO and the market operator see every member. The
  organisations' accounts (aggregators, DSOs, oracles, the market operator) are public to
  members: a request names its DSO and coordinator, a member delegates to an aggregator by its
  address, and these accounts act for the platform, not for a household.
* Participant details (meter id, delegation): the participant, its aggregator, the DSO and the
  market operator. Another prosumer is not listed at all (a member who may not see its
  address answers as if it were not registered).
* Chain events: public market events to members; an event with another member's data carries
  its arguments only for a party to it (or the role that needs it), otherwise it is redacted;
  in the arguments shown, a member address the caller may not see is null.
* Flexibility requests (terms, status, per-interval aggregates): any logged-in member. Opt-ins
  and coalition rows: the request's DSO, its coordinator, the market operator (and any
  aggregator while the request is open for proposals) see all; a member sees its own (and an
  aggregator its delegators'), with the reserve that replaced it (or that it replaced) shown
  only if it may see that member. A member's coordination account: as personal data, plus the
  market operator.

This is the API's access rule, not secrecy from the chain: every event is public to whoever
reads the chain itself (README, "Using the API").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session, aliased

from api.errors import DeactivatedError, ForbiddenError
from api.security import AGGREGATOR, DSO, MARKET_OPERATOR, PROSUMER, Claims
from api.service import Scope
from streams.models import FlexOptIn, FlexRequest, Participant


def on_chain_claims(db: Session, claims: Claims) -> Claims:
    """``claims`` with the role the participants read model holds for the caller now (the
    registry's events, projected), not the one in its token: a role change takes effect on
    the next request. An address the registry does not know has no role (it sees only its own
    data); a deactivated one is refused at once (:class:`DeactivatedError`, 403)."""
    row = db.execute(
        select(Participant.role_name, Participant.active, Participant.updated_block).where(
            Participant.chain_id == claims.chain_id, Participant.account == claims.address
        )
    ).first()
    if row is None:
        return replace(claims, roles=())
    role, active, block = row
    if not active:
        raise DeactivatedError(claims.address, int(block))
    return replace(claims, roles=(str(role),))


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
    """Raise 403 unless ``claims`` may see ``owner``'s ``what``. The refusal names no one:
    whether ``owner`` is a member, and who, is not the caller's to learn from it."""
    if operator_ok and claims.has(MARKET_OPERATOR):
        return
    if is_owner_or_delegate(db, scope, claims, owner):
        return
    raise ForbiddenError(
        f"{what} are personal data: only their member (or its delegated aggregator"
        f"{', or the market operator' if operator_ok else ''}) may see them"
    )


def sees_every_member(claims: Claims) -> bool:
    """The DSO and the market operator see every member's address (the registry's details)."""
    return claims.has(DSO) or claims.has(MARKET_OPERATOR)


def member_visible(scope: Scope, claims: Claims, account: Any) -> ColumnElement[bool]:
    """SQL: ``account`` (a column) is a member whose address ``claims`` may see, apart from
    the organisations' (see the module docstring): its own, its aggregator's, its
    delegators', and for an aggregator the members that opted in to a request it sees whole
    (:func:`sees_whole_request`: open, or coordinated by it)."""
    me, them = aliased(Participant), aliased(Participant)
    # Every term is true or false, never NULL (no comparison with a missing aggregator): the
    # negation in hidden_members must hold for every row.
    own_aggregator = select(me.aggregator).where(
        me.chain_id == scope.chain_id, me.account == claims.address, me.aggregator.is_not(None)
    )
    delegators = select(them.account).where(
        them.chain_id == scope.chain_id, them.aggregator == claims.address
    )
    seen = [account == claims.address, account.in_(own_aggregator), account.in_(delegators)]
    if claims.has(AGGREGATOR):
        seen.append(
            account.in_(
                select(FlexOptIn.member)
                .join(
                    FlexRequest,
                    and_(
                        FlexRequest.chain_id == FlexOptIn.chain_id,
                        FlexRequest.request_id == FlexOptIn.request_id,
                    ),
                )
                .where(
                    FlexOptIn.chain_id == scope.chain_id,
                    or_(FlexRequest.status == "open", FlexRequest.coordinator == claims.address),
                )
            )
        )
    return or_(*seen)


def listed_participant(scope: Scope, claims: Claims) -> ColumnElement[bool] | None:
    """SQL condition on ``Participant`` rows ``claims`` may see (None: all of them): every
    organisation, and the prosumers of :func:`member_visible`."""
    if sees_every_member(claims):
        return None
    return or_(
        Participant.role_name != PROSUMER, member_visible(scope, claims, Participant.account)
    )


def hidden_members(db: Session, scope: Scope, claims: Claims) -> frozenset[str]:
    """The members whose address ``claims`` may not see (empty for the DSO and operator)."""
    if sees_every_member(claims):
        return frozenset()
    p = aliased(Participant)
    return frozenset(
        db.scalars(
            select(p.account).where(
                p.chain_id == scope.chain_id,
                p.role_name == PROSUMER,
                not_(member_visible(scope, claims, p.account)),
            )
        )
    )


def masked(value: Any, hidden: frozenset[str]) -> Any:
    """``value`` (event arguments, at any depth) with every address in ``hidden`` as None."""
    if isinstance(value, str):
        return None if value in hidden else value
    if isinstance(value, dict):
        return {k: masked(v, hidden) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, hidden) for v in value]
    return value


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
    claims: Claims,
    contract: str,
    event: str,
    args: dict[str, Any],
    hidden: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """The arguments ``claims`` may see, or None (redacted); the addresses of ``hidden``
    members (:func:`hidden_members`) in them are None."""
    if (contract, event) in PUBLIC_EVENTS:
        return masked(args, hidden) if hidden else args
    if contract == "ParticipantRegistry" and claims.has(MARKET_OPERATOR):
        return args
    role = ROLE_EVENTS.get(contract)
    if role is not None and claims.has(role):
        return masked(args, hidden) if hidden else args
    if any(isinstance(v, str) and v == claims.address for v in args.values()):
        return masked(args, hidden) if hidden else args
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
