"""One router per resource."""

from api.routes import (
    auth,
    balances,
    events,
    health,
    matches,
    meters,
    orders,
    participants,
    sessions,
)

ROUTERS = (
    health.router,
    auth.router,
    participants.router,
    sessions.router,
    orders.router,
    matches.router,
    balances.router,
    meters.router,
    events.router,
)

__all__ = ["ROUTERS"]
