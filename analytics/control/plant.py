"""The homes as a controller meets them: the twins stepped one 15-minute interval at a time.

:class:`Plant` carries each home's state (the building's mass temperature, the hot-water tank's
temperature, the battery's charge) from step to step, applies a controller's
:class:`Actions` through the compiled twin (:meth:`analytics.thermal.twin.Prepared.run` over one
step) and accounts for what happened (:class:`Outcome`): the net import, its cost and emissions,
how much it raised the period's peak, the kelvin-hours outside the comfort band, the Wh away from
committed targets, and the reward of the user's cost function (:mod:`analytics.control.costs`).

Actions per home: a **setpoint offset** (K, added to both the heating and the cooling setpoint of
the home's own schedule), the heat pump's **modulation** (0..1 of its capacity), the **battery**
power (W, + charging, - discharging; clipped to its power and charge limits) and whether the
heating/cooling **device** may run (it never runs where the occupants turned it off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.errors import ControlConfigError
from analytics.control.homes import STEP_H, Community
from analytics.thermal.network import steady_mass_temperature
from analytics.thermal.twin import Controls

OFFSET_LIMIT_K = 4.0
"""The largest setpoint offset a controller may ask for, K."""


@dataclass
class Actions:
    """What a controller sets for one step, one value per home."""

    setpoint_offset_k: np.ndarray
    modulation: np.ndarray
    battery_w: np.ndarray
    device_on: np.ndarray

    @classmethod
    def idle(cls, n_homes: int) -> Actions:
        """Business as usual: the home's own thermostat, battery idle."""
        return cls(np.zeros(n_homes), np.ones(n_homes), np.zeros(n_homes), np.ones(n_homes))

    def checked(self, n_homes: int) -> Actions:
        arrays = []
        for name in ("setpoint_offset_k", "modulation", "battery_w", "device_on"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (n_homes,))
            if not np.isfinite(arr).all():
                raise ControlConfigError(f"actions: {name} is not finite")
            arrays.append(arr)
        return Actions(
            np.clip(arrays[0], -OFFSET_LIMIT_K, OFFSET_LIMIT_K),
            np.clip(arrays[1], 0.0, 1.0),
            arrays[2],
            (arrays[3] > 0.5).astype(np.float64),
        )


@dataclass
class Outcome:
    """What one step did, per home (W are means over the step)."""

    indoor_c: np.ndarray
    heat_w: np.ndarray
    hvac_w: np.ndarray
    """Electricity of heating, cooling and hot water."""
    battery_w: np.ndarray
    """Battery power actually applied (+ charging)."""
    net_import_w: np.ndarray
    cost: np.ndarray
    emissions_kg: np.ndarray
    peak_added_kw: np.ndarray
    violation_kh: np.ndarray
    tracking_wh: np.ndarray
    reward: np.ndarray


class Plant:
    """The community's homes stepped from ``start`` (module docstring)."""

    def __init__(self, community: Community, cost: CostFunction | None = None) -> None:
        self.c = community
        self.cost = cost or CostFunction()
        self.t = 0
        self.mass_c = np.zeros(community.n_homes)
        self.tank_c = np.zeros(community.n_homes)
        self.soc_wh = np.zeros(community.n_homes)
        self.peak_w = np.zeros(community.n_homes)
        self.last_heat_w = np.zeros(community.n_homes)
        self.indoor_c = np.zeros(community.n_homes)
        cap = [b.capacity_wh if b else 0.0 for b in community.batteries]
        self.capacity_wh = np.array(cap)
        self.power_w = np.array([b.power_w if b else 0.0 for b in community.batteries])
        self.eff = np.array([b.efficiency if b else 1.0 for b in community.batteries])
        self.min_wh = np.array(
            [b.min_soc * b.capacity_wh if b else 0.0 for b in community.batteries]
        )
        self.reset(0)

    def reset(self, start: int, indoor_c: np.ndarray | None = None) -> None:
        """Start at step ``start``: the air at ``indoor_c`` (default: the middle of the comfort
        band, or 21 degC where it is open) with the mass in steady state, tanks at their
        setpoints, batteries at their initial charge."""
        c = self.c
        if not 0 <= start < c.n_steps:
            raise ControlConfigError(f"start step {start} outside 0..{c.n_steps - 1}")
        if indoor_c is None:
            lo, hi = c.band_low[start], c.band_high[start]
            both = np.isfinite(lo) & np.isfinite(hi)
            indoor_c = np.where(
                np.isfinite(lo), lo + 1.0, np.where(np.isfinite(hi), hi - 1.0, 21.0)
            )
            indoor_c[both] = (lo[both] + hi[both]) / 2
        self.t = start
        self.indoor_c = np.asarray(indoor_c, dtype=np.float64).copy()
        self.mass_c = steady_mass_temperature(
            c.prepared.arrays, self.indoor_c, c.prepared.outdoor[start]
        ).copy()
        self.tank_c = np.array([h.tank.setpoint_c for h in c.prepared.homes], dtype=np.float64)
        self.soc_wh = np.array(
            [b.initial_soc * b.capacity_wh if b else 0.0 for b in c.batteries], dtype=np.float64
        )
        self.peak_w = np.zeros(c.n_homes)
        self.last_heat_w = np.zeros(c.n_homes)

    def restore(
        self,
        t: int,
        mass_c: np.ndarray,
        tank_c: np.ndarray,
        soc_wh: np.ndarray,
        indoor_c: np.ndarray | None = None,
        last_heat_w: np.ndarray | None = None,
    ) -> None:
        """Continue from a saved state at the start of step ``t`` (e.g. business as usual's)."""
        if not 0 <= t < self.c.n_steps:
            raise ControlConfigError(f"step {t} outside 0..{self.c.n_steps - 1}")
        self.t = t
        self.mass_c = np.asarray(mass_c, dtype=np.float64).copy()
        self.tank_c = np.asarray(tank_c, dtype=np.float64).copy()
        self.soc_wh = np.asarray(soc_wh, dtype=np.float64).copy()
        if indoor_c is not None:
            self.indoor_c = np.asarray(indoor_c, dtype=np.float64).copy()
        if last_heat_w is not None:
            self.last_heat_w = np.asarray(last_heat_w, dtype=np.float64).copy()
        self.peak_w = np.zeros(self.c.n_homes)

    def battery_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """The charging and discharging power (W, both >= 0) possible this step."""
        charge = np.minimum(self.power_w, (self.capacity_wh - self.soc_wh) / (self.eff * STEP_H))
        discharge = np.minimum(self.power_w, (self.soc_wh - self.min_wh) * self.eff / STEP_H)
        return np.maximum(charge, 0.0), np.maximum(discharge, 0.0)

    def step(self, actions: Actions) -> Outcome:
        c, t = self.c, self.t
        if t >= c.n_steps:
            raise ControlConfigError("the plant is past the end of its data")
        a = actions.checked(c.n_homes)
        on = a.device_on * c.home_on[t]
        run = c.prepared.run(
            t,
            t + 1,
            controls=Controls(a.setpoint_offset_k[None, :], a.modulation[None, :], on[None, :]),
            initial_mass_c=self.mass_c,
            initial_tank_c=self.tank_c,
        )
        self.mass_c = np.asarray(run.final_mass_c, dtype=np.float64)
        self.tank_c = np.asarray(run.final_tank_c, dtype=np.float64)
        charge_max, discharge_max = self.battery_limits()
        battery = np.clip(a.battery_w, -discharge_max, charge_max)
        self.soc_wh = (
            self.soc_wh + np.where(battery >= 0, battery * self.eff, battery / self.eff) * STEP_H
        )
        self.soc_wh = np.clip(self.soc_wh, self.min_wh, self.capacity_wh)
        indoor = run.indoor_c[0]
        hvac = run.electricity_w[0]
        net = c.base_load_w[t] + hvac + battery - c.pv_w[t]
        imp, exp = np.maximum(net, 0.0), np.maximum(-net, 0.0)
        price = c.price[t]
        cost = (imp - self.cost.feed_in_share * exp) * price * STEP_H / 1000.0
        emissions = imp * c.carbon[t] * STEP_H / 1000.0
        peak_added = np.maximum(imp - self.peak_w, 0.0) / 1000.0
        self.peak_w = np.maximum(self.peak_w, imp)
        lo, hi = c.band_low[t], c.band_high[t]
        violation = (np.maximum(lo - indoor, 0.0) + np.maximum(indoor - hi, 0.0)) * STEP_H
        target = c.targets_w[t]
        tracking = np.where(np.isnan(target), 0.0, np.abs(net - np.nan_to_num(target)) * STEP_H)
        w = self.cost.w
        reward = -(
            w("cost") * cost
            + w("emissions") * emissions
            + w("peak") * peak_added
            + w("comfort") * violation
            + w("tracking") * tracking / 1000.0
        )
        self.t = t + 1
        self.indoor_c = indoor.copy()
        self.last_heat_w = run.heat_w[0].copy()
        return Outcome(
            indoor_c=indoor,
            heat_w=run.heat_w[0],
            hvac_w=hvac,
            battery_w=battery,
            net_import_w=net,
            cost=cost,
            emissions_kg=emissions,
            peak_added_kw=peak_added,
            violation_kh=violation,
            tracking_wh=tracking,
            reward=reward,
        )
