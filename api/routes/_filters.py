"""Query helpers the routes share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import Page, TimeRange
from api.service import Scope
from streams.models import MarketMatch, MarketOrder, MarketSession

Model = type[MarketSession] | type[MarketOrder] | type[MarketMatch]
Row = TypeVar("Row")


def page_of(
    db: Session, model: type[Row], where: Sequence[Any], order_by: Sequence[Any], page: Page
) -> tuple[int, list[Row]]:
    """(how many rows of ``model`` match ``where``, the page of them in ``order_by`` order)."""
    count = db.scalar(select(func.count()).select_from(model).where(*where)) or 0
    rows = db.scalars(
        select(model).where(*where).order_by(*order_by).limit(page.limit).offset(page.offset)
    )
    return count, list(rows)


def in_scope(model: Model, scope: Scope) -> list[Any]:
    """Rows of the served chain (and market, when known)."""
    where: list[Any] = [model.chain_id == scope.chain_id]
    if scope.market is not None:
        where.append(model.market == scope.market)
    return where


def delivery_between(rng: TimeRange) -> list[Any]:
    where: list[Any] = []
    if rng.since_s is not None:
        where.append(MarketSession.delivery_start_s >= rng.since_s)
    if rng.until_s is not None:
        where.append(MarketSession.delivery_start_s < rng.until_s)
    return where


SIDES = {0: "bid", 1: "offer"}
SIDE_NUMBERS = {"bid": 0, "offer": 1}
