"""What-if scenarios change what they say and nothing else."""

from __future__ import annotations

import pytest

from analytics.thermal.errors import ThermalConfigError
from analytics.thermal.network import Building
from analytics.thermal.scenarios import Scenario, run_scenarios
from analytics.thermal.twin import TwinConfig
from analytics.thermal.weather import try_place, try_weather


@pytest.fixture(scope="module")
def results() -> dict:
    lat, lon = try_place()
    config = TwinConfig(building=Building.typical(140, "1980s"), latitude=lat, longitude=lon)
    winter = try_weather().loc["2023-01-01":"2023-02-28"]
    return {r.name: r for r in run_scenarios(config, winter, step_s=900)}


def test_standard_what_ifs_move_energy_the_right_way(results: dict) -> None:
    base = results["as-is"].totals
    assert base["fuel_kwh"] > base["heat_kwh"] > 1000, "a boiler burns more than it delivers"
    hp = results["heat-pump"].totals
    assert hp["fuel_kwh"] == 0
    assert 2.0 < (hp["heat_kwh"] + hp["hot_water_kwh"]) / hp["electricity_kwh"] < 4.5, (
        "seasonal COP"
    )
    assert results["setpoint-1"].totals["heat_kwh"] < 0.95 * base["heat_kwh"]
    assert results["insulation"].totals["heat_kwh"] < 0.7 * base["heat_kwh"]
    # at home all day: more internal gains, the setpoint held longer
    assert results["home-office"].totals["heat_kwh"] != base["heat_kwh"]
    for r in results.values():
        assert len(r.series.indoor_c) == len(results["as-is"].series.indoor_c) == 59 * 96


def test_scenario_json_is_validated() -> None:
    with pytest.raises(ThermalConfigError, match="unknown fields colour"):
        Scenario.from_json({"name": "x", "colour": "red"})
    with pytest.raises(ThermalConfigError, match="unknown heating system"):
        Scenario.from_json({"name": "x", "system": {"kind": "fusion"}})
    with pytest.raises(ThermalConfigError, match="unknown building fields"):
        Scenario.from_json({"name": "x", "building_factors": {"roof_colour": 2}})
    s = Scenario.from_json({"name": "triple", "building_factors": {"h_win_w_k": 0.5}})
    assert s.apply(TwinConfig()).building.h_win_w_k == pytest.approx(
        TwinConfig().building.h_win_w_k * 0.5
    )
