"""Gymnasium environments over the thermal twins: one home, or a community.

:class:`HomeEnv` controls one home of a :class:`analytics.control.homes.Community` (the others,
if any, are not stepped); :class:`CommunityEnv` controls all of them at once. Both step the
twins through :class:`analytics.control.plant.Plant` at 15-minute steps.

**Observation** (per home, :func:`observe`, scaled to about -1..1): indoor temperature and its
distance to both edges of the comfort band; outdoor temperature now and forecast 1, 3 and 6 h
ahead; the price now, in 1 and 3 h and the highest in the next 3 h, relative to the coming day's
mean; PV and non-HVAC load (kW); the battery's charge (share) and whether there is one; whether
a target is committed for this step and its net import (kW); the hour of day (sine, cosine); the
last step's heat (kW); whether the occupants let the system run; whether it is cooling.

**Action** (per home, all in [-1, 1]): setpoint offset (x :data:`OFFSET_LIMIT_K` K), the heat
pump's modulation ((a + 1) / 2), battery power (x its power; + charging) and the device switch
(off below -0.5).

**Reward**: minus the user's cost function (:mod:`analytics.control.costs`) of the step
(summed over homes in :class:`CommunityEnv`). Episodes run ``episode_steps`` steps from
``start`` (``random_start``: from a random step of ``[start, stop - episode_steps]``, drawn from
the environment's seeded generator).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.errors import ControlConfigError
from analytics.control.homes import Community
from analytics.control.plant import OFFSET_LIMIT_K, Actions, Outcome, Plant

N_OBS = 22
N_ACT = 4
OBS_LIMIT = 5.0
"""Observations are clipped to +-this (a price spike stays a large but finite input)."""


def observe(plant: Plant) -> np.ndarray:
    """(N, :data:`N_OBS`) observations of every home at the plant's current step."""
    c = plant.c
    t = min(plant.t, c.n_steps - 1)
    last = c.n_steps - 1
    out = np.zeros((c.n_homes, N_OBS), dtype=np.float32)
    air = plant.indoor_c
    lo = np.where(np.isfinite(c.band_low[t]), c.band_low[t], air - 5)
    hi = np.where(np.isfinite(c.band_high[t]), c.band_high[t], air + 5)
    day_mean = float(c.price[t : t + 96].mean()) or 1.0
    ahead = lambda h: min(t + 4 * h, last)  # noqa: E731
    out[:, 0] = air / 30.0
    out[:, 1] = np.clip((air - lo) / 5.0, -2, 2)
    out[:, 2] = np.clip((hi - air) / 5.0, -2, 2)
    for k, h in enumerate((0, 1, 3, 6)):
        out[:, 3 + k] = c.prepared.outdoor[ahead(h)] / 30.0
    out[:, 7] = c.price[t] / day_mean - 1
    out[:, 8] = c.price[ahead(1)] / day_mean - 1
    out[:, 9] = c.price[ahead(3)] / day_mean - 1
    out[:, 10] = c.price[t : t + 13].max() / day_mean - 1
    out[:, 11] = c.pv_w[t] / 5000.0
    out[:, 12] = c.base_load_w[t] / 5000.0
    has = plant.capacity_wh > 0
    out[:, 13] = np.where(has, plant.soc_wh / np.where(has, plant.capacity_wh, 1), 0.0)
    out[:, 14] = has
    target = c.targets_w[t]
    out[:, 15] = ~np.isnan(target)
    out[:, 16] = np.nan_to_num(target) / 5000.0
    hour = c.times[t].hour + c.times[t].minute / 60.0
    out[:, 17] = np.sin(2 * np.pi * hour / 24)
    out[:, 18] = np.cos(2 * np.pi * hour / 24)
    out[:, 19] = np.clip(plant.last_heat_w / 5000.0, -2, 2)
    out[:, 20] = c.home_on[t]
    out[:, 21] = plant.last_heat_w < 0
    return np.clip(out, -OBS_LIMIT, OBS_LIMIT)


def to_actions(plant: Plant, action: np.ndarray) -> Actions:
    """Scaled actions (N, :data:`N_ACT`) in [-1, 1] to the plant's units (module docstring)."""
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(plant.c.n_homes, N_ACT), -1, 1)
    return Actions(
        setpoint_offset_k=a[:, 0] * OFFSET_LIMIT_K,
        modulation=(a[:, 1] + 1) / 2,
        battery_w=a[:, 2] * plant.power_w,
        device_on=(a[:, 3] > -0.5).astype(np.float64),
    )


def _info(outcome: Outcome) -> dict[str, Any]:
    return {
        k: getattr(outcome, k).copy()
        for k in (
            "indoor_c",
            "net_import_w",
            "cost",
            "emissions_kg",
            "peak_added_kw",
            "violation_kh",
            "tracking_wh",
        )
    }


class CommunityEnv(gym.Env):
    """All homes of a community (module docstring)."""

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it so)

    def __init__(
        self,
        community: Community,
        cost: CostFunction | None = None,
        *,
        start: int = 0,
        stop: int | None = None,
        episode_steps: int = 96,
        random_start: bool = False,
    ) -> None:
        stop = community.n_steps if stop is None else stop
        if not 0 <= start < stop <= community.n_steps:
            raise ControlConfigError(f"period {start}..{stop} outside 0..{community.n_steps}")
        if not 1 <= episode_steps <= stop - start:
            raise ControlConfigError(
                f"episode of {episode_steps} steps does not fit the period of {stop - start}"
            )
        self.community = community
        self.plant = Plant(community, cost)
        self.start, self.stop = start, stop
        self.episode_steps = episode_steps
        self.random_start = random_start
        self._end = start + episode_steps
        n = community.n_homes
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (n, N_OBS), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n, N_ACT), np.float32)

    def _first(self) -> int:
        if not self.random_start:
            return self.start
        return int(self.np_random.integers(self.start, self.stop - self.episode_steps + 1))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        first = self._first()
        self.plant.reset(first)
        self._end = first + self.episode_steps
        return observe(self.plant), {"step": first}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        outcome = self.plant.step(to_actions(self.plant, action))
        truncated = self.plant.t >= self._end
        return observe(self.plant), float(outcome.reward.sum()), False, truncated, _info(outcome)


class HomeEnv(gym.Env):
    """One home (``home``: its index in the community) (module docstring)."""

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it so)

    def __init__(
        self, community: Community, home: int = 0, cost: CostFunction | None = None, **kwargs: Any
    ) -> None:
        if not 0 <= home < community.n_homes:
            raise ControlConfigError(f"home {home} outside 0..{community.n_homes - 1}")
        self.inner = CommunityEnv(_one(community, home), cost, **kwargs)
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (N_OBS,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (N_ACT,), np.float32)

    @property
    def plant(self) -> Plant:
        return self.inner.plant

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not hasattr(self.inner, "_np_random_seeded"):
            self.inner.reset(seed=int(self.np_random.integers(2**31)))
            self.inner._np_random_seeded = True  # type: ignore[attr-defined]
        obs, info = self.inner.reset()
        return obs[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, term, trunc, info = self.inner.step(np.asarray(action).reshape(1, N_ACT))
        return obs[0], reward, term, trunc, {k: float(v[0]) for k, v in info.items()}


def _one(community: Community, home: int) -> Community:
    """A community of one of the homes."""
    return community if community.n_homes == 1 else community.subset([home])
