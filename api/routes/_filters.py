"""Query helpers the market routes share."""

from __future__ import annotations

from typing import Any

from api.deps import TimeRange
from api.service import Scope
from streams.models import MarketMatch, MarketOrder, MarketSession

Model = type[MarketSession] | type[MarketOrder] | type[MarketMatch]


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
