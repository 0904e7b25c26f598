"""Token balances: personal (the owner and its delegated aggregator only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.access import require_personal
from api.deps import Address, ClaimsDep, DbDep, Page, PageDep, ScopeDep
from api.names import directory_names, named
from api.routes._filters import page_of
from api.schemas import BalancePublic, BalancesPublic
from api.security import Claims
from api.service import Scope
from streams.models import TokenBalance

router = APIRouter(prefix="/balances", tags=["balances"])

TokenQuery = Annotated[
    Address | None,
    Query(description="Only this token contract."),
]


def _balances(
    db: DbDep, scope: Scope, claims: Claims, owner: str, token: str | None, limit: int, offset: int
) -> BalancesPublic:
    require_personal(db, scope, claims, owner, "balances")
    where = [TokenBalance.chain_id == scope.chain_id, TokenBalance.account == owner]
    if token is not None:
        where.append(TokenBalance.token == token)
    count, rows = page_of(db, TokenBalance, where, [TokenBalance.token], Page(limit, offset))
    return named(
        BalancesPublic(data=[BalancePublic.model_validate(b) for b in rows], count=count),
        directory_names(db, scope),
    )


@router.get("", response_model=BalancesPublic, summary="Your token balances")
def my_balances(
    claims: ClaimsDep, db: DbDep, scope: ScopeDep, page: PageDep, token: TokenQuery = None
) -> BalancesPublic:
    return _balances(db, scope, claims, claims.address, token, page.limit, page.offset)


@router.get(
    "/{address}",
    response_model=BalancesPublic,
    summary="A member's token balances (itself or its delegated aggregator; others: 403)",
)
def balances_of(
    address: Annotated[Address, Path(description="Account address (0x and 40 hex digits).")],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    token: TokenQuery = None,
) -> BalancesPublic:
    return _balances(db, scope, claims, address, token, page.limit, page.offset)
