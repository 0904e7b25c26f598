"""The household twin: building fabric + heating/cooling system + hot-water tank + occupants.

:func:`simulate` runs one or many homes over the same weather, at 15-minute (or hourly) steps,
through the compiled 5R1C network (:mod:`analytics.thermal.network`). What a controller can set,
per step and home (:class:`Controls`): a setpoint offset (K), the heat pump's modulation
(0..1 of its capacity) and whether the heating/cooling device may run at all.

Weather is a frame indexed by the UTC start of each interval with ``outdoor_c``, ``direct_w_m2``
(direct normal irradiance) and ``diffuse_w_m2`` (diffuse horizontal); hourly weather driving a
15-minute simulation is spread over the quarter hours (temperature interpolated, irradiance held
at the hour's mean, so energy is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.thermal.errors import ThermalConfigError, ThermalDataError
from analytics.thermal.network import Building, NetworkArrays, _run, pack, steady_mass_temperature
from analytics.thermal.occupants import Occupancy
from analytics.thermal.solar import facade_irradiance
from analytics.thermal.systems import HeatingSystem, HotWaterTank

WEATHER_COLUMNS = ("outdoor_c", "direct_w_m2", "diffuse_w_m2")


@dataclass(frozen=True)
class TwinConfig:
    """Everything that describes one home's twin."""

    building: Building = field(default_factory=Building)
    system: HeatingSystem = field(default_factory=HeatingSystem)
    tank: HotWaterTank = field(default_factory=HotWaterTank)
    occupancy: Occupancy = field(default_factory=Occupancy)
    latitude: float = 52.52
    longitude: float = 13.40
    gain_scale: float = 1.0
    """Factor on the internal gains (calibration fits it)."""

    def __post_init__(self) -> None:
        if not -90 <= self.latitude <= 90 or not -180 <= self.longitude <= 180:
            raise ThermalConfigError(
                f"twin: ({self.latitude}, {self.longitude}) is not a latitude/longitude"
            )
        if not 0 <= self.gain_scale <= 20:
            raise ThermalConfigError(f"twin: gain_scale = {self.gain_scale} is outside [0, 20]")

    def to_json(self) -> dict[str, Any]:
        return {
            "building": self.building.to_json(),
            "system": dict(self.system.__dict__),
            "tank": dict(self.tank.__dict__),
            "occupancy": dict(self.occupancy.__dict__),
            "latitude": self.latitude,
            "longitude": self.longitude,
            "gain_scale": self.gain_scale,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TwinConfig:
        try:
            return cls(
                Building.from_json(data["building"]),
                HeatingSystem(**data["system"]),
                HotWaterTank(**data["tank"]),
                Occupancy(**data["occupancy"]),
                float(data["latitude"]),
                float(data["longitude"]),
                float(data.get("gain_scale", 1.0)),
            )
        except (KeyError, TypeError) as exc:
            raise ThermalConfigError(f"not a twin configuration: {exc}") from exc

    def with_(self, **changes: Any) -> TwinConfig:
        return replace(self, **changes)


@dataclass
class Drivers:
    """Measured series that replace a home's occupancy schedules (calibration on data), per
    step: internal gains (W), heating and cooling setpoints (degC). Any may be None."""

    gains_w: np.ndarray | None = None
    heat_sp_c: np.ndarray | None = None
    cool_sp_c: np.ndarray | None = None


@dataclass
class Controls:
    """What a controller sets, arrays of shape (T,) or (T, N); None: not set."""

    setpoint_offset_k: np.ndarray | None = None
    modulation: np.ndarray | None = None
    device_on: np.ndarray | None = None


@dataclass
class SimResult:
    """Per-step results, arrays (T, N): mean power over each step, W; temperatures degC."""

    times: pd.DatetimeIndex
    step_s: int
    indoor_c: np.ndarray
    heat_w: np.ndarray
    """Space heating (+) or cooling (-) heat delivered to the air."""
    electricity_w: np.ndarray
    fuel_w: np.ndarray
    dhw_w: np.ndarray
    """Heat put into the hot-water tank."""
    outdoor_c: np.ndarray
    mass_c: np.ndarray | None = None
    surface_c: np.ndarray | None = None
    final_mass_c: np.ndarray | None = None
    mass_end_c: np.ndarray | None = None
    """Mass temperature at the end of each step (after the observer's correction): the state
    a forecast from the next step starts from."""
    final_tank_c: np.ndarray | None = None
    """Hot-water tank temperature at the end of the window (a controller stepping the twin one
    interval at a time carries it, with ``final_mass_c``, into the next window)."""

    def energy_kwh(self, values: np.ndarray) -> np.ndarray:
        """Total energy per home of a power array, kWh."""
        return np.asarray(values, dtype=float).sum(axis=0) * self.step_s / 3.6e6

    def home(self, n: int = 0) -> pd.DataFrame:
        """One home's results as a frame (energies per step in Wh)."""
        wh = self.step_s / 3600.0
        return pd.DataFrame(
            {
                "indoor_c": self.indoor_c[:, n],
                "heat_wh": self.heat_w[:, n] * wh,
                "electricity_wh": self.electricity_w[:, n] * wh,
                "fuel_wh": self.fuel_w[:, n] * wh,
                "dhw_wh": self.dhw_w[:, n] * wh,
                "outdoor_c": self.outdoor_c,
            },
            index=self.times,
        )


def prepare_weather(weather: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """Validated weather at the simulation step (module docstring)."""
    if not isinstance(weather.index, pd.DatetimeIndex) or weather.index.tz is None:
        raise ThermalDataError(
            "weather: the index must be time-zone-aware start times of intervals"
        )
    missing = [c for c in WEATHER_COLUMNS if c not in weather.columns]
    if missing:
        raise ThermalDataError(f"weather: columns missing: {', '.join(missing)}")
    if step_s not in (900, 3600):
        raise ThermalConfigError(f"step_s must be 900 or 3600, got {step_s}")
    frame = weather.loc[:, list(WEATHER_COLUMNS)].astype(float)
    if frame.isna().any().any():
        bad = [c for c in WEATHER_COLUMNS if frame[c].isna().any()]
        raise ThermalDataError(f"weather: gaps (NaN) in {', '.join(bad)}")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise ThermalDataError("weather: times must be increasing without duplicates")
    if len(frame) > 1:
        steps = np.diff(frame.index.as_unit("s").asi8)
        if np.any(steps != steps[0]):
            raise ThermalDataError("weather: rows must be evenly spaced (missing rows?)")
        data_step = int(steps[0])
    else:
        data_step = step_s
    if data_step == step_s:
        return frame
    if data_step == 3600 and step_s == 900:
        idx = pd.date_range(frame.index[0], periods=len(frame) * 4, freq="15min")
        out = frame.reindex(idx)
        out["outdoor_c"] = out["outdoor_c"].interpolate(limit_direction="both")
        out[["direct_w_m2", "diffuse_w_m2"]] = out[["direct_w_m2", "diffuse_w_m2"]].ffill()
        return out
    if data_step == 900 and step_s == 3600:
        return frame.resample("1h").mean()
    raise ThermalDataError(f"weather: a step of {data_step} s cannot drive a {step_s} s simulation")


def _per_step(
    values: np.ndarray | float | None, n_steps: int, n_homes: int, name: str
) -> np.ndarray:
    if values is None:
        return np.zeros((0, n_homes))
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full((n_steps, n_homes), float(arr))
    elif arr.ndim == 1:
        if len(arr) != n_steps:
            raise ThermalDataError(f"{name}: {len(arr)} values for {n_steps} steps")
        arr = np.repeat(arr[:, None], n_homes, axis=1)
    if arr.shape != (n_steps, n_homes):
        raise ThermalDataError(f"{name}: shape {arr.shape}, expected ({n_steps}, {n_homes})")
    if not np.isfinite(arr).all():
        raise ThermalDataError(f"{name}: not finite everywhere")
    return np.ascontiguousarray(arr)


def _observed(values: np.ndarray | None, n_steps: int, n_homes: int) -> np.ndarray:
    if values is None:
        return np.zeros((0, n_homes))
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.repeat(arr[:, None], n_homes, axis=1)
    if arr.shape != (n_steps, n_homes):
        raise ThermalDataError(f"observed_c: shape {arr.shape}, expected ({n_steps}, {n_homes})")
    return np.ascontiguousarray(arr)


_PROFILE_AT = -3
"""Where the home -> schedule column map sits in :attr:`Prepared.constants`."""


@dataclass
class Prepared:
    """Homes and weather turned into the kernel's arrays once; :meth:`run` simulates any
    window of it (forecasts from many origins reuse one preparation)."""

    homes: list[TwinConfig]
    times: pd.DatetimeIndex
    step_s: int
    outdoor: np.ndarray
    poa: np.ndarray
    profile: np.ndarray
    gains: np.ndarray
    heat_sp: np.ndarray
    cool_sp: np.ndarray
    draws: np.ndarray
    constants: tuple
    arrays: NetworkArrays

    @property
    def n_steps(self) -> int:
        return len(self.times)

    def subset(self, homes: list[int]) -> Prepared:
        """The same preparation for some of the homes (no weather or schedules recomputed)."""
        sel = np.asarray(homes, dtype=np.int64)
        if sel.size == 0 or sel.min() < 0 or sel.max() >= len(self.homes):
            raise ThermalConfigError(f"subset {homes} outside 0..{len(self.homes) - 1}")
        used = np.unique(self.profile[sel])
        remap = {int(p): k for k, p in enumerate(used)}
        constants = [np.ascontiguousarray(a[sel]) for a in self.constants]
        constants[_PROFILE_AT] = np.array([remap[int(p)] for p in self.profile[sel]], np.int64)

        def cols(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a[:, used])

        return Prepared(
            homes=[self.homes[int(k)] for k in sel],
            times=self.times,
            step_s=self.step_s,
            outdoor=self.outdoor,
            poa=self.poa,
            profile=constants[_PROFILE_AT],
            gains=cols(self.gains),
            heat_sp=cols(self.heat_sp),
            cool_sp=cols(self.cool_sp),
            draws=cols(self.draws),
            constants=tuple(constants),
            arrays=NetworkArrays(**{k: v[sel] for k, v in self.arrays.__dict__.items()}),
        )

    def run(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        controls: Controls | None = None,
        heat_given_w: np.ndarray | None = None,
        initial_indoor_c: float | np.ndarray | None = None,
        initial_mass_c: np.ndarray | None = None,
        initial_tank_c: np.ndarray | None = None,
        keep_nodes: bool = False,
        observed_c: np.ndarray | None = None,
        observer_gain: float = 0.5,
    ) -> SimResult:
        """Simulate steps ``start .. stop`` (arrays given here cover only that window).
        ``initial_tank_c``: the hot-water tanks' start temperatures (default: their
        setpoints)."""
        stop = self.n_steps if stop is None else stop
        if not 0 <= start < stop <= self.n_steps:
            raise ThermalConfigError(f"window {start}..{stop} outside 0..{self.n_steps}")
        n_steps, n_homes = stop - start, len(self.homes)
        window = slice(start, stop)
        heat_sp = self.heat_sp[window]
        arrays = self.arrays
        if initial_mass_c is not None:
            theta_m0 = np.asarray(initial_mass_c, dtype=np.float64).reshape(n_homes).copy()
        else:
            first = (
                heat_sp[0, self.profile]
                if initial_indoor_c is None
                else np.broadcast_to(np.asarray(initial_indoor_c, dtype=np.float64), (n_homes,))
            )
            theta_m0 = steady_mass_temperature(
                arrays, np.asarray(first, dtype=np.float64), self.outdoor[start]
            )
        c = controls or Controls()
        out = {
            k: np.empty((n_steps, n_homes), dtype=np.float64)
            for k in ("air", "heat", "elec", "fuel", "dhw")
        }
        nodes = (n_steps, n_homes) if keep_nodes else (0, n_homes)
        out_m, out_s, out_mend = np.empty(nodes), np.empty(nodes), np.empty(nodes)
        outdoor = self.outdoor[window]
        tank0 = (
            np.array([h.tank.setpoint_c for h in self.homes], dtype=np.float64)
            if initial_tank_c is None
            else np.asarray(initial_tank_c, dtype=np.float64).reshape(n_homes).copy()
        )
        final_m, final_tank = _run(  # type: ignore[call-arg]  # (numba dispatcher)
            float(self.step_s),
            *self.constants,
            outdoor,
            self.poa[window],
            self.gains[window],
            heat_sp,
            self.cool_sp[window],
            self.draws[window],
            _per_step(c.setpoint_offset_k, n_steps, n_homes, "setpoint_offset_k"),
            _per_step(c.modulation, n_steps, n_homes, "modulation"),
            _per_step(c.device_on, n_steps, n_homes, "device_on"),
            _per_step(heat_given_w, n_steps, n_homes, "heat_given_w"),
            np.zeros((0, n_homes)),
            _observed(observed_c, n_steps, n_homes),
            float(observer_gain),
            theta_m0,
            tank0,
            out["air"],
            out["heat"],
            out["elec"],
            out["fuel"],
            out["dhw"],
            out_m,
            out_s,
            out_mend,
        )
        return SimResult(
            times=self.times[window],
            step_s=self.step_s,
            indoor_c=out["air"],
            heat_w=out["heat"],
            electricity_w=out["elec"],
            fuel_w=out["fuel"],
            dhw_w=out["dhw"],
            outdoor_c=outdoor,
            mass_c=out_m if keep_nodes else None,
            surface_c=out_s if keep_nodes else None,
            final_mass_c=final_m,
            mass_end_c=out_mend if keep_nodes else None,
            final_tank_c=final_tank,
        )


def prepare(
    configs: TwinConfig | list[TwinConfig],
    weather: pd.DataFrame,
    *,
    step_s: int = 900,
    drivers: list[Drivers | None] | None = None,
) -> Prepared:
    """Validate and turn homes and weather into the kernel's arrays (see :func:`simulate`)."""
    homes = [configs] if isinstance(configs, TwinConfig) else list(configs)
    if not homes:
        raise ThermalConfigError("no homes to simulate")
    lat, lon = homes[0].latitude, homes[0].longitude
    if any((h.latitude, h.longitude) != (lat, lon) for h in homes):
        raise ThermalConfigError("simulate: homes at different places; call once per place")
    if drivers is not None and len(drivers) != len(homes):
        raise ThermalConfigError(f"drivers: {len(drivers)} given for {len(homes)} homes")
    w = prepare_weather(weather, step_s)
    times = w.index
    n_steps, n_homes = len(times), len(homes)
    outdoor = np.ascontiguousarray(w["outdoor_c"].to_numpy())
    poa = np.ascontiguousarray(
        facade_irradiance(
            times, lat, lon, w["direct_w_m2"].to_numpy(), w["diffuse_w_m2"].to_numpy(), step_s
        )
    )
    arrays = pack([h.building for h in homes])

    # occupancy profiles, shared by homes with the same occupancy and floor area
    keys: dict[tuple, int] = {}
    columns: list[dict[str, np.ndarray]] = []
    profile = np.empty(n_homes, dtype=np.int64)
    for n, home in enumerate(homes):
        driver = drivers[n] if drivers is not None else None
        if driver is not None:
            sched = home.occupancy.schedules(times, home.building.floor_area_m2, step_s)
            for name in ("gains_w", "heat_sp_c", "cool_sp_c"):
                given = getattr(driver, name)
                if given is not None:
                    given = np.asarray(given, dtype=float)
                    if given.shape != (n_steps,) or not np.isfinite(given).all():
                        raise ThermalDataError(f"drivers.{name}: need {n_steps} finite values")
                    sched[name] = given
            profile[n] = len(columns)
            columns.append(sched)
            continue
        key = (home.occupancy, home.building.floor_area_m2)
        if key not in keys:
            keys[key] = len(columns)
            columns.append(home.occupancy.schedules(times, home.building.floor_area_m2, step_s))
        profile[n] = keys[key]

    def stack(name: str) -> np.ndarray:
        return np.ascontiguousarray(np.stack([c[name] for c in columns], axis=1), dtype=np.float64)

    def per_home(f: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.array([f(h) for h in homes], dtype=dtype)

    constants = (
        arrays.h_ve,
        arrays.h_tr_is,
        arrays.h_tr_w,
        arrays.h_tr_ms,
        arrays.h_tr_em,
        arrays.c_m,
        arrays.m_share,
        arrays.s_share,
        np.ascontiguousarray(arrays.solar_area),
        per_home(lambda h: h.system.code, np.int64),
        per_home(lambda h: h.system.heating_w),
        per_home(lambda h: h.system.cooling_w),
        per_home(lambda h: int(h.system.on_off), np.int64),
        per_home(lambda h: h.system.eta_full),
        per_home(lambda h: h.system.eta_low),
        per_home(lambda h: h.system.plr_min),
        per_home(lambda h: h.system.cycling_loss),
        per_home(lambda h: h.system.carnot_fraction),
        per_home(lambda h: h.system.supply_design_c),
        per_home(lambda h: h.system.supply_min_c),
        per_home(lambda h: h.system.outdoor_design_c),
        per_home(lambda h: h.system.capacity_slope),
        per_home(lambda h: h.system.backup_w),
        per_home(lambda h: h.system.chilled_c),
        per_home(lambda h: h.system.auxiliary_w),
        per_home(lambda h: h.tank.code, np.int64),
        per_home(lambda h: max(h.tank.volume_l, 1e-9)),
        per_home(lambda h: h.tank.setpoint_c),
        per_home(lambda h: h.tank.hysteresis_k),
        per_home(lambda h: h.tank.ua_w_k),
        per_home(lambda h: h.tank.heater_w),
        per_home(lambda h: h.tank.cold_c),
        per_home(lambda h: h.occupancy.deadband_k),
        profile,
        per_home(lambda h: h.gain_scale),
        np.ones(n_homes),
    )
    return Prepared(
        homes=homes,
        times=times,
        step_s=step_s,
        outdoor=outdoor,
        poa=poa,
        profile=profile,
        gains=stack("gains_w"),
        heat_sp=stack("heat_sp_c"),
        cool_sp=stack("cool_sp_c"),
        draws=stack("draw_l"),
        constants=constants,
        arrays=arrays,
    )


def simulate(
    configs: TwinConfig | list[TwinConfig],
    weather: pd.DataFrame,
    *,
    step_s: int = 900,
    controls: Controls | None = None,
    heat_given_w: np.ndarray | None = None,
    drivers: list[Drivers | None] | None = None,
    initial_indoor_c: float | np.ndarray | None = None,
    initial_mass_c: np.ndarray | None = None,
    keep_nodes: bool = False,
    observed_c: np.ndarray | None = None,
    observer_gain: float = 0.5,
) -> SimResult:
    """Simulate homes over the weather (module docstring). All homes must share the location
    of the first (group homes by place and call once per place).

    ``heat_given_w`` (T,) or (T, N): the system's heat per step, W, instead of the thermostat.
    ``drivers``: per home, measured series replacing its schedules (:class:`Drivers`).
    The start state is steady state at ``initial_indoor_c`` (default: the first heating
    setpoint), or ``initial_mass_c`` where given.
    ``observed_c`` (T,) or (T, N), NaN where unknown: measured indoor temperatures an observer
    assimilates (the mass temperature is pulled, by ``observer_gain``, towards the value that
    explains each one); ``indoor_c`` then holds the one-step-ahead predictions and
    ``mass_end_c`` / ``final_mass_c`` the assimilated state, the start of forecasts.
    """
    prepared = prepare(configs, weather, step_s=step_s, drivers=drivers)
    return prepared.run(
        controls=controls,
        heat_given_w=heat_given_w,
        initial_indoor_c=initial_indoor_c,
        initial_mass_c=initial_mass_c,
        keep_nodes=keep_nodes,
        observed_c=observed_c,
        observer_gain=observer_gain,
    )


def network_of(config: TwinConfig) -> NetworkArrays:
    return pack([config.building])
