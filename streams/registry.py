"""The registry of the platform's projections (one place that knows them all)."""

from __future__ import annotations

from streams.coordination import coordination
from streams.projection import ProjectionRegistry
from streams.projections import balances, market, oracles, participants


def default_registry() -> ProjectionRegistry:
    """The projections of the platform (a fresh registry object each call)."""
    return ProjectionRegistry([participants, balances, market, oracles, coordination])
