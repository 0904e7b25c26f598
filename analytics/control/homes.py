"""The homes a controller drives: each one's thermal twin plus what else it sees and owns.

A :class:`Community` is N homes at one place over T steps of 15 minutes: the twins prepared over
the weather (:class:`analytics.thermal.twin.Prepared`, with the homes' own thermostat schedules or
measured setpoints), and per step and home the non-HVAC load and the PV output (W), the
electricity price (per kWh) and carbon intensity (kg/kWh), each home's battery where it has one,
and the committed targets (the net import, mean W over a step, a home promised to a coalition or
a cleared trade; NaN where it promised nothing).

**Comfort band.** Per step and home: from the heating setpoint less half the thermostat's deadband
less the home's tolerance, to the cooling setpoint plus half the deadband plus the tolerance.
Where the home conditions on one side only (measured data: a home in cooling mode has no heating
setpoint), the band is centred on the setpoint it has. Where the occupants turned the system off,
the band is open. The tolerance comes from the household's comfort preference (ISM-3's
:class:`gateway_bridge.domain.ComfortMode`): 1 K for ``comfort``, 2 K for ``economy``. The twin
has no moisture balance, so humidity is not part of the band (measured humidity is reported, not
controlled).

:func:`citylearn_community` builds one from the CityLearn 2023 homes (calibrating each twin on
the first part of its data): their PV, batteries, prices and carbon intensity come with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.control.errors import ControlConfigError, ControlDataError
from analytics.thermal.twin import Drivers, Prepared, TwinConfig, prepare

STEP_S = 900
STEP_H = STEP_S / 3600.0
TOLERANCE_K = {"comfort": 1.0, "economy": 2.0}
"""Comfort tolerance beyond the thermostat's band, K, per ISM comfort mode."""
_NO_HEAT, _NO_COOL = -40.0, 70.0


@dataclass(frozen=True)
class Battery:
    """A home battery: usable between ``min_soc`` and full, ``efficiency`` each way."""

    capacity_wh: float
    power_w: float
    efficiency: float = 0.95
    min_soc: float = 0.2
    initial_soc: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.capacity_wh <= 1e6 or not 0 < self.power_w <= 1e6:
            raise ControlConfigError(
                f"battery: capacity {self.capacity_wh} Wh and power {self.power_w} W must be "
                "positive (and at most 1 MWh / 1 MW)"
            )
        if not 0.5 <= self.efficiency <= 1 or not 0 <= self.min_soc < 1:
            raise ControlConfigError(
                f"battery: efficiency {self.efficiency} must be in [0.5, 1] and min_soc "
                f"{self.min_soc} in [0, 1)"
            )
        if not self.min_soc <= self.initial_soc <= 1:
            raise ControlConfigError(
                f"battery: initial_soc {self.initial_soc} is outside [{self.min_soc}, 1]"
            )


def _series(name: str, values: np.ndarray | float, n_steps: int, n_homes: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full((n_steps, n_homes), float(arr))
    elif arr.ndim == 1:
        if len(arr) != n_steps:
            raise ControlDataError(f"{name}: {len(arr)} values for {n_steps} steps")
        arr = np.repeat(arr[:, None], n_homes, axis=1)
    if arr.shape != (n_steps, n_homes):
        raise ControlDataError(f"{name}: shape {arr.shape}, expected ({n_steps}, {n_homes})")
    return np.ascontiguousarray(arr)


@dataclass
class Community:
    """N homes at one place over T steps of 15 minutes (module docstring)."""

    prepared: Prepared
    names: list[str]
    base_load_w: np.ndarray
    pv_w: np.ndarray
    price: np.ndarray
    carbon: np.ndarray
    batteries: list[Battery | None]
    tolerance_k: np.ndarray
    home_on: np.ndarray
    targets_w: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    band_low: np.ndarray = field(init=False)
    band_high: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        p = self.prepared
        if p.step_s != STEP_S:
            raise ControlConfigError(f"control runs at {STEP_S} s steps, the twins at {p.step_s}")
        t, n = p.n_steps, len(p.homes)
        if len(self.names) != n or len(self.batteries) != n:
            raise ControlConfigError(
                f"{n} homes but {len(self.names)} names and {len(self.batteries)} battery entries"
            )
        self.base_load_w = _series("base_load_w", self.base_load_w, t, n)
        self.pv_w = _series("pv_w", self.pv_w, t, n)
        self.home_on = _series("home_on", self.home_on, t, n)
        self.price = np.asarray(self.price, dtype=np.float64).reshape(-1)
        self.carbon = np.asarray(self.carbon, dtype=np.float64).reshape(-1)
        for name, arr in (("price", self.price), ("carbon", self.carbon)):
            if len(arr) != t:
                raise ControlDataError(f"{name}: {len(arr)} values for {t} steps")
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise ControlDataError(f"{name}: must be finite and not negative everywhere")
        for name, arr in (("base_load_w", self.base_load_w), ("pv_w", self.pv_w)):
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise ControlDataError(f"{name}: must be finite and not negative everywhere")
        self.tolerance_k = np.broadcast_to(
            np.asarray(self.tolerance_k, dtype=np.float64), (n,)
        ).copy()
        if (self.tolerance_k < 0).any() or (self.tolerance_k > 5).any():
            raise ControlConfigError("tolerance_k must be within [0, 5] K")
        if self.targets_w.size == 0:
            self.targets_w = np.full((t, n), np.nan)
        self.targets_w = _series("targets_w", self.targets_w, t, n)
        hs = p.heat_sp[:, p.profile]
        cs = p.cool_sp[:, p.profile]
        half = np.array([h.occupancy.deadband_k for h in p.homes]) / 2
        has_h, has_c = hs > _NO_HEAT, cs < _NO_COOL
        low_ref = np.where(has_h, hs, np.where(has_c, cs, -np.inf))
        high_ref = np.where(has_c, cs, np.where(has_h, hs, np.inf))
        self.band_low = low_ref - half - self.tolerance_k
        self.band_high = high_ref + half + self.tolerance_k
        off = self.home_on < 0.5
        self.band_low[off] = -np.inf
        self.band_high[off] = np.inf

    @property
    def n_steps(self) -> int:
        return self.prepared.n_steps

    @property
    def n_homes(self) -> int:
        return len(self.prepared.homes)

    @property
    def times(self) -> pd.DatetimeIndex:
        return self.prepared.times

    def subset(self, homes: list[int]) -> Community:
        """Some of the homes (a home may appear more than once: copies of one twin, e.g. several
        members paired with one development home)."""
        sel = list(homes)
        return Community(
            self.prepared.subset(sel),
            [self.names[k] for k in sel],
            self.base_load_w[:, sel],
            self.pv_w[:, sel],
            self.price,
            self.carbon,
            [self.batteries[k] for k in sel],
            self.tolerance_k[sel],
            self.home_on[:, sel],
            self.targets_w[:, sel],
        )

    def with_targets(self, targets_w: np.ndarray) -> Community:
        """The same homes with other committed targets (NaN where none)."""
        out = Community(
            self.prepared,
            self.names,
            self.base_load_w,
            self.pv_w,
            self.price,
            self.carbon,
            self.batteries,
            self.tolerance_k,
            self.home_on,
            np.asarray(targets_w, dtype=float),
        )
        return out


def _quarter(values: np.ndarray) -> np.ndarray:
    """Hourly values held over the four quarter hours."""
    return np.repeat(np.asarray(values, dtype=np.float64), 4, axis=0)


def citylearn_community(
    set_name: str,
    homes: list[str] | None = None,
    *,
    train_share: float = 0.75,
    comfort_mode: str = "comfort",
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[Community, int]:
    """The homes of a CityLearn 2023 set as a community at 15-minute steps, each twin calibrated
    on the first ``train_share`` of its data; returns it and the first held-out step."""
    from analytics.data import citylearn2023 as cl
    from analytics.thermal.calibrate import check_measured, drivers_for
    from analytics.thermal.service import calibrated_citylearn

    if set_name not in cl.ALL:
        raise ControlDataError(
            f"unknown CityLearn 2023 set {set_name!r}; known: {', '.join(cl.ALL)}"
        )
    if comfort_mode not in TOLERANCE_K:
        raise ControlConfigError(f"comfort mode {comfort_mode!r}: one of {', '.join(TOLERANCE_K)}")
    schema = cl.schema(set_name)
    homes = homes or cl.home_ids(set_name)
    folder = cl.dataset_dir(set_name)
    configs: list[TwinConfig] = []
    drivers: list[Drivers | None] = []
    on, base, pv, batteries = [], [], [], []
    frame = None
    for home in homes:
        source, cal, _ = calibrated_citylearn(f"citylearn:{set_name}/{home}", train_share)
        progress(f"{set_name}/{home}: twin calibrated")
        configs.append(cal.config)
        measured = check_measured(source.frame)
        d, c = drivers_for(measured)
        drivers.append(
            Drivers(
                *(None if v is None else _quarter(v) for v in (d.gains_w, d.heat_sp_c, d.cool_sp_c))
            )
        )
        n = len(source.frame)
        on.append(_quarter(c.device_on if c.device_on is not None else np.ones(n)))
        frame = source.frame
        base.append(_quarter(frame["equipment_kwh"].to_numpy() * 1000.0))
        b = schema["buildings"][home]
        pv_kw = float(((b.get("pv") or {}).get("attributes") or {}).get("nominal_power") or 0.0)
        pv.append(_quarter(frame["pv_w_per_kw"].to_numpy() * min(pv_kw, 10.0)))
        st = (b.get("electrical_storage") or {}).get("attributes") or {}
        batteries.append(
            Battery(
                capacity_wh=float(st["capacity"]) * 1000.0,
                power_w=float(st["nominal_power"]) * 1000.0,
                efficiency=float(st.get("efficiency", 0.95)),
                min_soc=1.0 - float(st.get("depth_of_discharge", 0.8)),
            )
            if st.get("capacity") and st.get("nominal_power")
            else None
        )
    assert frame is not None
    weather = frame[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]]
    prepared = prepare(configs, weather, step_s=STEP_S, drivers=drivers)
    t = prepared.n_steps
    price = _read_column(folder / "pricing.csv", t // 4)
    carbon_file = folder / "carbon_intensity.csv"
    carbon = _read_column(carbon_file, t // 4) if carbon_file.exists() else np.zeros(t // 4)
    community = Community(
        prepared=prepared,
        names=[f"{set_name}/{h}" for h in homes],
        base_load_w=np.stack(base, axis=1)[:t],
        pv_w=np.stack(pv, axis=1)[:t],
        price=_quarter(price),
        carbon=_quarter(carbon),
        batteries=batteries,
        tolerance_k=np.array(TOLERANCE_K[comfort_mode]),
        home_on=np.stack(on, axis=1)[:t],
    )
    return community, round(t * train_share)


def _read_column(path: Path, rows: int) -> np.ndarray:
    values = pd.read_csv(path).iloc[:rows, 0].to_numpy(dtype=float)
    if len(values) < rows:
        raise ControlDataError(f"{path}: {len(values)} rows, need {rows}")
    return values


FRAME_REQUIRED = ("outdoor_c", "direct_w_m2", "diffuse_w_m2", "base_load_w", "price_per_kwh")
"""Columns a home's own data must have (a frame indexed by the UTC start of each interval,
15-minute or hourly): weather, the load that is not heating or cooling (W), the price."""
FRAME_OPTIONAL = {
    "pv_w": 0.0,
    "carbon_kg_per_kwh": 0.0,
    "heat_setpoint_c": None,
    "cool_setpoint_c": None,
    "hvac_on": 1.0,
    "gains_w": None,
}
"""Optional columns and their defaults (setpoints and internal gains: the twin's occupancy
schedules)."""


def frame_community(
    frame: pd.DataFrame,
    config: TwinConfig,
    *,
    name: str = "home",
    battery: Battery | None = None,
    comfort_mode: str = "comfort",
) -> Community:
    """One home from its own data (a data frame, e.g. :func:`read_home_csv`) and its twin
    (``bright twin calibrate``): columns :data:`FRAME_REQUIRED`, and :data:`FRAME_OPTIONAL`
    where known. Hourly data is held over the quarter hours (temperature interpolated)."""
    from analytics.thermal.twin import prepare_weather

    if comfort_mode not in TOLERANCE_K:
        raise ControlConfigError(f"comfort mode {comfort_mode!r}: one of {', '.join(TOLERANCE_K)}")
    missing = [c for c in FRAME_REQUIRED if c not in frame.columns]
    if missing:
        raise ControlDataError(
            f"{name}: columns missing: {', '.join(missing)} (needed: {', '.join(FRAME_REQUIRED)})"
        )
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ControlDataError(f"{name}: the index must be time-zone-aware interval starts")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise ControlDataError(f"{name}: times must be increasing without duplicates")
    if len(frame) < 2:
        raise ControlDataError(f"{name}: at least two intervals are needed")
    steps = np.diff(frame.index.as_unit("s").asi8)
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if step not in (900, 3600):
        raise ControlDataError(f"{name}: rows must be 15 minutes or 1 hour apart, not {step} s")
    odd = np.flatnonzero(steps != step)
    if odd.size:
        raise ControlDataError(
            f"{name}: rows must be evenly {step} s apart: {odd.size} irregular steps, the first "
            f"after {frame.index[odd[0]]} (a missing or extra row?)"
        )
    columns = [c for c in (*FRAME_REQUIRED, *FRAME_OPTIONAL) if c in frame.columns]
    data = frame[columns].astype(float)
    for column in columns:
        if column in ("heat_setpoint_c", "cool_setpoint_c"):
            continue  # empty where the system does not condition that side
        bad = data[column].isna()
        if bad.any():
            raise ControlDataError(
                f"{name}: {column} has gaps ({int(bad.sum())} empty, first at "
                f"{data.index[bad.to_numpy()][0]})"
            )
    hourly = step == 3600
    weather = prepare_weather(data[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]], STEP_S)

    def series(column: str) -> np.ndarray | None:
        if column not in data.columns:
            default = FRAME_OPTIONAL[column]
            return None if default is None else np.full(len(weather), float(default))
        values = data[column].to_numpy()
        return _quarter(values) if hourly else values

    drivers = Drivers(
        gains_w=series("gains_w"),
        heat_sp_c=series("heat_setpoint_c"),
        cool_sp_c=series("cool_setpoint_c"),
    )
    for label in ("heat_sp_c", "cool_sp_c"):
        values = getattr(drivers, label)
        if values is not None and np.isnan(values).any():
            setattr(
                drivers,
                label,
                np.where(np.isnan(values), -50.0 if label == "heat_sp_c" else 80.0, values),
            )
    prepared = prepare(config, weather, step_s=STEP_S, drivers=[drivers])
    return Community(
        prepared=prepared,
        names=[name],
        base_load_w=series("base_load_w"),  # type: ignore[arg-type]
        pv_w=series("pv_w"),  # type: ignore[arg-type]
        price=series("price_per_kwh"),  # type: ignore[arg-type]
        carbon=series("carbon_kg_per_kwh"),  # type: ignore[arg-type]
        batteries=[battery],
        tolerance_k=np.array(TOLERANCE_K[comfort_mode]),
        home_on=series("hvac_on"),  # type: ignore[arg-type]
    )


def read_home_csv(path: str | Path) -> pd.DataFrame:
    """A home's own data from CSV: a ``time`` column (ISO 8601 start of each interval, UTC or
    with an offset) and the columns of :func:`frame_community` (read as the twin's measured data
    is: :func:`analytics.thermal.calibrate.load_csv`)."""
    from analytics.thermal.calibrate import load_csv
    from analytics.thermal.errors import ThermalDataError

    try:
        return load_csv(path)
    except ThermalDataError as exc:
        raise ControlDataError(str(exc)) from exc
