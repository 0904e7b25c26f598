"""One router per resource."""

from api.routes import (
    auth,
    balances,
    clusters,
    coalitions,
    config,
    control,
    dashboards,
    devices,
    events,
    health,
    matches,
    meters,
    orders,
    participants,
    profile,
    requests,
    sessions,
    settlements,
    twin,
)

ROUTERS = (
    health.router,
    auth.router,
    participants.router,
    profile.router,
    sessions.router,
    orders.router,
    settlements.router,
    matches.router,
    balances.router,
    meters.router,
    requests.router,
    coalitions.router,
    events.router,
    config.router,
    clusters.router,
    dashboards.router,
    twin.router,
    control.router,
)

GATEWAY_ROUTERS = (devices.router,)
"""Served only by an API that runs beside a home-gateway bridge (``ApiService.gateway``)."""

__all__ = ["GATEWAY_ROUTERS", "ROUTERS"]
