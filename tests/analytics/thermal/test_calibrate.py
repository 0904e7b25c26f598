"""Calibration recovers what generated the data, reports its uncertainty and refuses bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.thermal.calibrate import FACTORS, apply_factors, calibrate, check_measured, load_csv
from analytics.thermal.errors import ThermalDataError
from analytics.thermal.network import Building
from analytics.thermal.occupants import Occupancy
from analytics.thermal.systems import HeatingSystem, HotWaterTank
from analytics.thermal.twin import TwinConfig, simulate

TRUE_FACTORS = np.array([0.8, 1.3, 1.25, 0.7, 1.2])


def synthetic_winter(days: int = 28, seed: int = 3) -> pd.DataFrame:
    """Weather of a heating season: cold, windy days with a daily swing and some sun."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    idx = pd.date_range("2024-01-08", periods=hours, freq="h", tz="UTC")
    h = np.arange(hours)
    slow = np.convolve(rng.normal(0, 3, hours + 96), np.ones(96) / 96 * 4, mode="same")[:hours]
    outdoor = 2 + 4 * np.sin(2 * np.pi * (h % 24 - 9) / 24) + slow
    sun = np.clip(np.sin(np.pi * (h % 24 - 7) / 9), 0, None) * rng.uniform(0.1, 1.0, days).repeat(
        24
    )
    return pd.DataFrame(
        {"outdoor_c": outdoor, "direct_w_m2": 700 * sun, "diffuse_w_m2": 120 * sun}, index=idx
    )


def generate(
    config: TwinConfig,
    weather: pd.DataFrame,
    noise_c: float = 0.0,
    noise_share: float = 0.0,
    seed: int = 5,
) -> pd.DataFrame:
    """What a home with ``config`` would have measured: its indoor temperature and heat, with
    the setpoint schedule it followed."""
    r = simulate(config, weather, step_s=3600)
    rng = np.random.default_rng(seed)
    sched = config.occupancy.schedules(r.times, config.building.floor_area_m2, 3600)
    heat_kwh = r.heat_w[:, 0] / 1000.0
    frame = weather.copy()
    frame["indoor_c"] = r.indoor_c[:, 0] + rng.normal(0, noise_c, len(frame))
    frame["heating_kwh"] = np.clip(heat_kwh * (1 + rng.normal(0, noise_share, len(frame))), 0, None)
    frame["setpoint_c"] = sched["heat_sp_c"]
    frame["hvac_mode"] = 2
    frame["equipment_kwh"] = sched["gains_w"] / 1000.0
    return frame


def truth() -> tuple[TwinConfig, TwinConfig]:
    start = TwinConfig(
        building=Building.typical(130.0, "1980s"),
        system=HeatingSystem(kind="resistance", heating_w=30_000, backup_w=0),
        tank=HotWaterTank(volume_l=0),
        occupancy=Occupancy(
            people=0, pattern="away-all-day", comfort_c=21, setback_c=16, appliance_w_m2=3.0
        ),
    )
    return start, apply_factors(start, TRUE_FACTORS)


def test_recovers_the_parameters_of_a_twin_that_generated_the_data() -> None:
    start, true = truth()
    data = generate(true, synthetic_winter())
    cal = calibrate(data, start, train_share=1.0)
    got = np.array([cal.factors[k] for k in FACTORS])
    assert got == pytest.approx(TRUE_FACTORS, rel=0.05), dict(zip(FACTORS, got, strict=True))
    assert cal.fit["train"]["rmse_c"] < 0.05
    assert cal.fit["converged"]


def test_noisy_data_recovers_within_the_stated_uncertainty() -> None:
    start, true = truth()
    data = generate(true, synthetic_winter(42), noise_c=0.2, noise_share=0.05)
    cal = calibrate(data, start)
    got = np.array([cal.factors[k] for k in FACTORS])
    std = np.array([cal.factors_std[k] for k in FACTORS])
    # stated bounds: within 15 % and within four reported standard deviations (log scale)
    assert got == pytest.approx(TRUE_FACTORS, rel=0.15), dict(zip(FACTORS, got, strict=True))
    assert np.all(np.abs(np.log(got / TRUE_FACTORS)) <= 4 * std + 0.02)
    assert cal.fit["validation"]["rmse_c"] < 0.5
    assert (std > 0).all() and (std < 0.2).all()


def _good(hours: int = 24 * 5) -> pd.DataFrame:
    _, true = truth()
    return generate(true, synthetic_winter(max(hours // 24, 3)))


def test_gaps_are_filled_when_short_and_refused_when_long() -> None:
    data = _good()
    data.iloc[10, data.columns.get_loc("indoor_c")] = np.nan
    assert check_measured(data).interpolated == {"indoor_c": 1}
    long_gap = _good().drop(_good().index[30:36])
    with pytest.raises(
        ThermalDataError, match=r"(outdoor|indoor)_c has a gap of 6 steps from 2024-01-09 06:00"
    ):
        check_measured(long_gap)


def test_stuck_sensor_units_and_missing_columns_are_refused() -> None:
    data = _good()
    data.iloc[24:60, data.columns.get_loc("indoor_c")] = 20.0
    with pytest.raises(ThermalDataError, match=r"indoor_c is constant for 3[56] h .* stuck sensor"):
        check_measured(data)
    fahrenheit = _good()
    fahrenheit["indoor_c"] = fahrenheit["indoor_c"] * 9 / 5 + 32
    with pytest.raises(ThermalDataError, match="Fahrenheit"):
        check_measured(fahrenheit)
    wh = _good()
    wh["heating_kwh"] *= 1e6
    with pytest.raises(ThermalDataError, match="that is Wh"):
        check_measured(wh)
    with pytest.raises(ThermalDataError, match="need heating_kwh or cooling_kwh"):
        check_measured(_good().drop(columns="heating_kwh"))
    with pytest.raises(ThermalDataError, match="columns missing: indoor_c"):
        check_measured(_good().drop(columns="indoor_c"))


def test_csv_round_trip(tmp_path) -> None:
    data = _good()
    path = tmp_path / "home.csv"
    data.rename_axis("time").reset_index().to_csv(path, index=False)
    loaded = load_csv(path)
    assert check_measured(loaded).frame["indoor_c"].to_numpy() == pytest.approx(
        data["indoor_c"].to_numpy()
    )
    (tmp_path / "bad.csv").write_text("when,indoor_c\n2024-01-01,20\n")
    with pytest.raises(ThermalDataError, match="no 'time' column"):
        load_csv(tmp_path / "bad.csv")
