"""Closing the loop for one request window: estimate, promise, deliver, measure.

:func:`deliver_window` takes the homes' state at the start of a window (business as usual's),
estimates each home's sustained downward flexibility over the window (:func:`flex.sustained`),
promises it (the committed target: business as usual's net import less the estimate, per step)
for the homes whose estimate reaches ``min_wh`` in every step, and lets a policy drive the twins
through the window with those targets. What it returns per home and step is what a meter would
measure: the promised and the delivered reduction (Wh against business as usual) and the comfort
violation. A home that cannot deliver is one whose physics could not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.flex import State, sustained
from analytics.control.homes import STEP_H, Community
from analytics.control.plant import Plant
from analytics.control.policies import Policy

TRACKING_COST = CostFunction(
    {"cost": 1.0, "emissions": 0.0, "peak": 0.0, "comfort": 1000.0, "tracking": 50.0}
)
"""The cost function while a target is committed: comfort first (a kelvin-hour outside the band
costs as much as 20 kWh off target), then the target, then the bill."""


@dataclass
class Delivery:
    """One window's promises and what the physics delivered, Wh per (step, home)."""

    promised_wh: np.ndarray
    """NaN where a home promised nothing."""
    delivered_wh: np.ndarray
    violation_kh: np.ndarray
    estimate_wh: np.ndarray
    offset_k: np.ndarray
    """The controller's setpoint offsets, K per (step, home)."""

    def within(self, tolerance: float = 0.1) -> np.ndarray:
        """Per (step, home) with a promise: delivered within ``tolerance`` of it."""
        p = self.promised_wh
        has = ~np.isnan(p)
        ok = np.asarray(
            np.abs(self.delivered_wh - np.nan_to_num(p)) <= tolerance * np.abs(np.nan_to_num(p))
        )
        return ok[has]


def promise(estimate_wh: np.ndarray, min_wh: float = 20.0) -> np.ndarray:
    """What each home promises per step: its estimate, where it reaches ``min_wh`` in every
    step of the window; NaN (no opt-in) where it does not."""
    covered = np.asarray(np.all(np.asarray(estimate_wh) >= min_wh, axis=0))
    return np.where(covered[None, :], estimate_wh, np.nan)


def deliver_window(
    community: Community,
    state: State,
    bau_net_w: np.ndarray,
    steps: int,
    policy: Policy,
    *,
    promised_wh: np.ndarray | None = None,
    min_wh: float = 20.0,
) -> Delivery:
    """The window from ``state`` (module docstring). ``bau_net_w`` (steps, N): business as
    usual's net import over the window from the same state. ``promised_wh`` (steps, N) replaces
    the estimate-based promise (e.g. a target larger than the estimate)."""
    est = sustained(community, state, steps).down_wh
    promised = promise(est, min_wh) if promised_wh is None else np.asarray(promised_wh, float)
    t0 = state.t
    targets = np.full((community.n_steps, community.n_homes), np.nan)
    targets[t0 : t0 + steps] = bau_net_w - promised / STEP_H
    plant = Plant(community.with_targets(targets), TRACKING_COST)
    plant.restore(t0, state.mass_c, state.tank_c, state.soc_wh, state.indoor_c, state.last_heat_w)
    delivered = np.zeros((steps, community.n_homes))
    violation = np.zeros((steps, community.n_homes))
    offsets = np.zeros((steps, community.n_homes))
    for k in range(steps):
        actions = policy.decide(plant)
        out = plant.step(actions)
        delivered[k] = (bau_net_w[k] - out.net_import_w) * STEP_H
        violation[k] = out.violation_kh
        offsets[k] = actions.setpoint_offset_k
    return Delivery(promised, delivered, violation, est, offsets)
