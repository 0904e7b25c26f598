"""Control policies to compare (RLCF-7), all deciding from the same plant state.

* :class:`BauPolicy`, **business as usual**: the home's own thermostat schedule, the battery
  (where there is one) charging from PV surplus and covering the load (self-consumption, what a
  home battery does out of the box);
* :class:`RulePolicy`, **price-responsive rules**: when the price is high (above the coming day's
  mean) the setpoint gives way by three quarters of the comfort tolerance (heating lower, cooling
  higher) and the battery covers the load; when it is low and a higher price comes within 3 h
  the home pre-heats or pre-cools by as much and the battery charges; a committed target is met
  like a high price;
* :class:`MpcPolicy`, **model-predictive control**: the linear programme of
  :func:`analytics.control.linear.mpc_plan` over a rolling horizon (default 8 h) with perfect
  forecasts of weather, prices and loads (the data), the first step applied: its heat becomes a
  setpoint offset (the thermostat's target is the planned air temperature) and, for a heat pump,
  a modulation (so the heat comes from the compressor, not the backup heater);
* reinforcement learning: :class:`analytics.control.rl.RlPolicy` (stable-baselines3).

Each policy records, per home, why it decided what it did (:attr:`Policy.reasons`): the member's
control status shows it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.homes import STEP_H
from analytics.control.linear import free_run, mpc_plan, response_matrix, step_constants
from analytics.control.plant import Actions, Plant


class Policy(Protocol):
    name: str
    reasons: list[str]

    def decide(self, plant: Plant) -> Actions: ...


def self_consumption(plant: Plant) -> np.ndarray:
    """Battery power (W) that stores PV surplus and covers the load, from the last step's HVAC."""
    c, t = plant.c, plant.t
    hvac_guess = np.abs(plant.last_heat_w) / 3.0  # heat / a typical COP
    return np.clip(c.pv_w[t] - c.base_load_w[t] - hvac_guess, -plant.power_w, plant.power_w)


class BauPolicy:
    """Business as usual (module docstring)."""

    name = "bau"

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def decide(self, plant: Plant) -> Actions:
        n = plant.c.n_homes
        self.reasons = ["own thermostat schedule; battery self-consumption"] * n
        a = Actions.idle(n)
        a.battery_w = self_consumption(plant)
        return a


class RulePolicy:
    """Price-responsive rules (module docstring)."""

    name = "rule"

    def __init__(self, share: float = 0.75, lookahead_h: float = 3.0) -> None:
        self.share = share
        self.lookahead = round(lookahead_h / STEP_H)
        self.reasons: list[str] = []

    def decide(self, plant: Plant) -> Actions:
        c, t = plant.c, plant.t
        n = c.n_homes
        day = c.price[t : t + 96]
        price = c.price[t]
        mean = float(day.mean())
        soon = float(c.price[t + 1 : t + 1 + self.lookahead].max(initial=price))
        expensive = price > 1.02 * mean
        cheap_before_peak = price < 0.98 * mean and soon > 1.02 * price
        committed = ~np.isnan(c.targets_w[t])
        cooling = np.where(
            plant.last_heat_w != 0, plant.last_heat_w < 0, c.prepared.outdoor[t] > plant.indoor_c
        )
        k = self.share * c.tolerance_k
        relax = np.where(cooling, k, -k)
        a = Actions.idle(n)
        a.battery_w = self_consumption(plant)
        self.reasons = ["price normal: own schedule"] * n
        give_way = committed | expensive
        if cheap_before_peak:
            a.setpoint_offset_k = -relax
            a.battery_w = plant.power_w.copy()
            self.reasons = [
                f"price low before a rise: pre-{'cooling' if cl else 'heating'} by {x:.1f} K, "
                "battery charging"
                for cl, x in zip(cooling, k, strict=True)
            ]
        a.setpoint_offset_k = np.where(give_way, relax, a.setpoint_offset_k)
        a.battery_w = np.where(give_way, self_consumption(plant), a.battery_w)
        for i in np.flatnonzero(give_way):
            why = "committed target" if committed[i] else "price high"
            self.reasons[i] = f"{why}: setpoint gives way by {k[i]:.1f} K, battery covers the load"
        return a


class MpcPolicy:
    """Model-predictive control over a rolling horizon (module docstring)."""

    name = "mpc"

    def __init__(self, cost: CostFunction | None = None, horizon_h: float = 8.0) -> None:
        self.cost = cost or CostFunction()
        self.horizon = round(horizon_h / STEP_H)
        self._matrices: dict[tuple[int, int], np.ndarray] = {}
        self.reasons: list[str] = []
        self.last_plans: list = []

    def _matrix(self, plant: Plant, n: int, horizon: int) -> np.ndarray:
        key = (n, horizon)
        if key not in self._matrices:
            self._matrices[key] = response_matrix(
                step_constants(plant.c.prepared.arrays, n), horizon
            )
        return self._matrices[key]

    def decide(self, plant: Plant) -> Actions:
        c, t = plant.c, plant.t
        n_homes = c.n_homes
        horizon = min(self.horizon, c.n_steps - t)
        free = free_run(plant, horizon)
        a = Actions.idle(n_homes)
        self.reasons = []
        self.last_plans = []
        for n in range(n_homes):
            plan = mpc_plan(plant, n, horizon, self.cost, free, self._matrix(plant, n, horizon))
            self.last_plans.append(plan)
            q0, air0 = float(plan.heat_w[0]), float(plan.indoor_c[0])
            p = c.prepared.profile[n]
            half = c.prepared.homes[n].occupancy.deadband_k / 2
            if q0 > 1.0:
                a.setpoint_offset_k[n] = air0 - (c.prepared.heat_sp[t, p] - half)
                if plan.heat_pump_cap_w > 0:
                    a.modulation[n] = min(1.0, q0 / plan.heat_pump_cap_w)
                what = f"heating {q0 / 1000:.2f} kW"
            elif q0 < -1.0:
                a.setpoint_offset_k[n] = air0 - (c.prepared.cool_sp[t, p] + half)
                what = f"cooling {-q0 / 1000:.2f} kW"
            else:
                a.device_on[n] = 0.0
                what = "no heating or cooling"
            a.battery_w[n] = plan.battery_w[0]
            self.reasons.append(
                f"plan over {horizon * STEP_H:.0f} h: {what} to {air0:.1f} degC "
                f"(band {c.band_low[t, n]:.1f}..{c.band_high[t, n]:.1f}), battery "
                f"{plan.battery_w[0] / 1000:+.2f} kW"
            )
        return a
