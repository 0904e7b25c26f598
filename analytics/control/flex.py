"""How much each home can shift, per interval, without leaving its comfort band (from the twin).

For a home at a known state (its twin's mass and tank temperatures, its battery's charge) and an
activation window of one or more 15-minute steps:

* **down** (less import; *upward* flexibility for the grid): the thermostat gives way by the
  home's whole comfort tolerance for the window (heating: setpoint lower; cooling: higher), so
  the air drifts to the edge of the band and is held there; the battery discharges what it can
  (power and charge) up to the home's remaining import;
* **up** (more import): the thermostat pre-heats or pre-cools by the tolerance and the battery
  charges what it can;
* the **rebound**: after the window the home returns to its own schedule and the battery to its
  charge; the energy this takes over ``rebound_h`` beyond business as usual (down: positive, the
  heat and charge to recover; up: negative, what was stored in the walls and the battery comes
  back).

The Wh are the difference of the twin's electricity (and battery power) against business as
usual from the same state, step by step, so they are what the physics allows, not a share of
the load. Comfort is kept by construction (the thermostat holds the band's edge) and checked:
a step whose simulated air leaves the band counts no flexibility for that step.

:func:`sustained` answers for one window (a DSO request: every interval of it activated in a
row); :func:`profile` answers for each interval of a period separately (offers and the UI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.control.errors import ControlConfigError
from analytics.control.homes import STEP_H, STEP_S, Community
from analytics.control.plant import Plant
from analytics.control.policies import BauPolicy
from analytics.thermal.twin import Controls

REBOUND_H = 4.0


@dataclass
class State:
    """The homes' state at the start of a step (what :class:`Plant` carries)."""

    t: int
    mass_c: np.ndarray
    tank_c: np.ndarray
    soc_wh: np.ndarray
    heat_w: np.ndarray
    """Business as usual's heat in this step (its sign says heating or cooling)."""
    indoor_c: np.ndarray
    """The air temperature of the step before."""
    net_import_w: np.ndarray
    """Business as usual's net import in this step."""
    last_heat_w: np.ndarray
    """The heat of the step before (what business as usual's battery rule reads)."""


def take(state: State, homes: list[int]) -> State:
    """The state of some of the homes (in :meth:`Community.subset`'s order)."""
    sel = list(homes)
    return State(
        state.t,
        state.mass_c[sel],
        state.tank_c[sel],
        state.soc_wh[sel],
        state.heat_w[sel],
        state.indoor_c[sel],
        state.net_import_w[sel],
        state.last_heat_w[sel],
    )


def bau_states(community: Community, start: int, steps: int) -> list[State]:
    """The homes' state at each of ``steps`` steps from ``start`` under business as usual."""
    if not 0 <= start < start + steps <= community.n_steps:
        raise ControlConfigError(f"steps {start}..{start + steps} outside 0..{community.n_steps}")
    plant = Plant(community)
    plant.reset(start)
    policy = BauPolicy()
    out = []
    for _ in range(steps):
        mass, tank, soc, t = plant.mass_c.copy(), plant.tank_c.copy(), plant.soc_wh.copy(), plant.t
        air, last = plant.indoor_c.copy(), plant.last_heat_w.copy()
        o = plant.step(policy.decide(plant))
        out.append(State(t, mass, tank, soc, o.heat_w.copy(), air, o.net_import_w.copy(), last))
    return out


@dataclass
class Sustained:
    """One window's flexibility per home: Wh per step (steps, N) and the rebound (N)."""

    start_s: int
    down_wh: np.ndarray
    up_wh: np.ndarray
    rebound_down_wh: np.ndarray
    rebound_up_wh: np.ndarray


def sustained(
    community: Community, state: State, steps: int, rebound_h: float = REBOUND_H
) -> Sustained:
    """Flexibility of every home over ``steps`` steps from ``state`` (module docstring)."""
    c = community
    t0 = state.t
    rebound = min(round(rebound_h / STEP_H), c.n_steps - t0 - steps)
    if steps < 1 or rebound < 0:
        raise ControlConfigError(f"a window of {steps} steps from {t0} does not fit the data")
    total = steps + rebound
    n = c.n_homes
    cooling = state.heat_w < 0
    tol = c.tolerance_k
    give_way = np.where(cooling, tol, -tol)  # the offset that uses less energy

    def run(offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        off = np.zeros((total, n))
        off[:steps] = offset
        result = c.prepared.run(
            t0,
            t0 + total,
            controls=Controls(setpoint_offset_k=off, device_on=c.home_on[t0 : t0 + total]),
            initial_mass_c=state.mass_c,
            initial_tank_c=state.tank_c,
        )
        return result.electricity_w, result.indoor_c

    base_e, _ = run(np.zeros(n))
    down_e, down_air = run(give_way)
    up_e, up_air = run(-give_way)
    lo = c.band_low[t0 : t0 + total]
    hi = c.band_high[t0 : t0 + total]
    eps = 0.05
    ok_down = (down_air >= lo - eps) & (down_air <= hi + eps)
    ok_up = (up_air >= lo - eps) & (up_air <= hi + eps)
    wh = STEP_H
    down = (np.where(ok_down, np.maximum(base_e - down_e, 0.0), 0.0) * wh)[:steps]
    up = (np.where(ok_up, np.maximum(up_e - base_e, 0.0), 0.0) * wh)[:steps]
    rebound_down = ((down_e - base_e)[steps:] * wh).sum(axis=0)
    rebound_up = ((up_e - base_e)[steps:] * wh).sum(axis=0)
    # the battery: discharge (down) / charge (up) at power, within its charge, for the window
    plant = Plant(c)
    load_w = c.base_load_w[t0 : t0 + steps] + base_e[:steps] - c.pv_w[t0 : t0 + steps]
    soc = state.soc_wh.copy()
    for k in range(steps):
        room = np.maximum((soc - plant.min_wh) * plant.eff / STEP_H, 0.0)
        power = np.minimum(np.minimum(plant.power_w, room), np.maximum(load_w[k] - down[k] / wh, 0))
        down[k] += power * wh
        soc -= power / plant.eff * wh
    rebound_down += (state.soc_wh - soc) / (plant.eff * plant.eff).clip(min=1e-9)
    soc = state.soc_wh.copy()
    for k in range(steps):
        room = np.maximum((plant.capacity_wh - soc) / (plant.eff * STEP_H), 0.0)
        power = np.minimum(plant.power_w, room)
        up[k] += power * wh
        soc += power * plant.eff * wh
    rebound_up -= (soc - state.soc_wh) * plant.eff * plant.eff
    return Sustained(
        start_s=int(c.times[t0].timestamp()),
        down_wh=down,
        up_wh=up,
        rebound_down_wh=rebound_down,
        rebound_up_wh=rebound_up,
    )


@dataclass
class Profile:
    """Per interval of a period, each activated alone: Wh (K, N)."""

    start_s: int
    step_s: int
    names: list[str]
    down_wh: np.ndarray
    up_wh: np.ndarray
    rebound_down_wh: np.ndarray
    rebound_up_wh: np.ndarray

    def home(self, n: int) -> dict[str, object]:
        """One home's profile, JSON-able (the control status's ``flexibility``)."""
        return {
            "start_s": self.start_s,
            "step_s": self.step_s,
            "up_wh": [round(float(v), 1) for v in self.up_wh[:, n]],
            "down_wh": [round(float(v), 1) for v in self.down_wh[:, n]],
            "rebound_wh": [round(float(v), 1) for v in self.rebound_down_wh[:, n]],
        }


def profile(
    community: Community, start: int, intervals: int, rebound_h: float = REBOUND_H
) -> Profile:
    """Every interval of ``start .. start + intervals`` activated alone, from business as
    usual's state at that interval (module docstring)."""
    states = bau_states(community, start, intervals)
    rows = [sustained(community, s, 1, rebound_h) for s in states]
    return Profile(
        start_s=int(community.times[start].timestamp()),
        step_s=STEP_S,
        names=list(community.names),
        down_wh=np.stack([r.down_wh[0] for r in rows]),
        up_wh=np.stack([r.up_wh[0] for r in rows]),
        rebound_down_wh=np.stack([r.rebound_down_wh for r in rows]),
        rebound_up_wh=np.stack([r.rebound_up_wh for r in rows]),
    )
