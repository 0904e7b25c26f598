"""Physics of the 5R1C network: decay, steady state, energy balance, systems' efficiencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.thermal.errors import ThermalConfigError, ThermalDataError
from analytics.thermal.network import Building
from analytics.thermal.occupants import Occupancy
from analytics.thermal.systems import HeatingSystem, HotWaterTank, heat_pump_cop
from analytics.thermal.twin import Controls, TwinConfig, simulate

QUIET = Occupancy(people=0, appliance_w_m2=0, litres_per_person_day=0)
NO_TANK = HotWaterTank(volume_l=0)


def weather(hours: int, outdoor_c: float | np.ndarray = 0.0, sun: float = 0.0) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
    out = np.broadcast_to(np.asarray(outdoor_c, dtype=float), (hours,))
    return pd.DataFrame({"outdoor_c": out, "direct_w_m2": sun, "diffuse_w_m2": sun}, index=idx)


def free_floating(building: Building) -> TwinConfig:
    return TwinConfig(
        building=building, system=HeatingSystem(kind="none"), tank=NO_TANK, occupancy=QUIET
    )


@pytest.mark.parametrize("standard", ["pre-1970", "1980s", "passive"])
def test_free_floating_decays_towards_outdoor_with_the_time_constant(standard: str) -> None:
    building = Building.typical(140.0, standard)
    tau_h = building.time_constant_s() / 3600
    hours = int(3 * tau_h) + 24
    result = simulate(
        free_floating(building), weather(hours, 0.0), initial_indoor_c=20.0, keep_nodes=True
    )
    mass = result.mass_c[:, 0]
    assert np.all(np.diff(mass) < 0), "the mass cools monotonically towards 0 degC"
    # the mass node decays as exp(-t / tau): check the ratio after one and two time constants
    start = mass[0]
    at = lambda h: np.interp(h, np.arange(len(mass)) * 0.25 + 0.125, mass)  # noqa: E731
    for k in (1, 2):
        assert at(k * tau_h) / start == pytest.approx(np.exp(-k), rel=0.02)
    assert abs(result.indoor_c[-1, 0]) < abs(result.indoor_c[0, 0]) * np.exp(-2.5)


@pytest.mark.parametrize("outdoor", [-10.0, 0.0, 10.0])
def test_steady_state_heat_is_heat_loss_coefficient_times_temperature_difference(
    outdoor: float,
) -> None:
    building = Building.typical(120.0, "1980s")
    config = TwinConfig(
        building=building,
        system=HeatingSystem(kind="resistance", heating_w=50_000),
        tank=NO_TANK,
        occupancy=Occupancy(
            people=0,
            appliance_w_m2=0,
            litres_per_person_day=0,
            comfort_c=21,
            setback_c=21,
            deadband_k=0,
        ),
    )
    result = simulate(config, weather(24 * 20, outdoor), initial_indoor_c=21.0)
    assert result.indoor_c[-1, 0] == pytest.approx(21.0, abs=1e-6)
    assert result.heat_w[-1, 0] == pytest.approx(
        building.heat_loss_w_k() * (21.0 - outdoor), rel=1e-3
    )
    # resistance heating: electricity equals heat (plus the fan/pump's auxiliary power)
    assert result.electricity_w[-1, 0] == pytest.approx(result.heat_w[-1, 0] + 40.0, rel=1e-9)


def test_heat_balance_of_each_node_closes_every_step() -> None:
    rng = np.random.default_rng(7)
    hours = 24 * 14
    out = 5 + 6 * np.sin(np.arange(hours) / 24 * 2 * np.pi) + rng.normal(0, 1, hours)
    w = weather(hours, out)
    w["direct_w_m2"] = np.clip(700 * np.sin((np.arange(hours) % 24 - 6) / 12 * np.pi), 0, None)
    w["diffuse_w_m2"] = w["direct_w_m2"] * 0.2
    building = Building.typical(110.0, "1980s")
    config = TwinConfig(
        building=building, system=HeatingSystem(kind="heat-pump", heating_w=6000), tank=NO_TANK
    )
    r = simulate(config, w, keep_nodes=True, initial_indoor_c=20.0)
    b = building
    # inputs of each step, rebuilt: gains as the kernel split them
    sched = config.occupancy.schedules(r.times, b.floor_area_m2, r.step_s)
    from analytics.thermal.solar import facade_irradiance

    prepared = w.reindex(r.times).ffill()
    poa = facade_irradiance(
        r.times,
        config.latitude,
        config.longitude,
        prepared["direct_w_m2"].to_numpy(),
        prepared["diffuse_w_m2"].to_numpy(),
        900,
    )
    phi_int = sched["gains_w"]
    phi_sol = poa @ b.solar_area_m2()
    shared = 0.5 * phi_int + phi_sol
    phi_ia = 0.5 * phi_int + r.heat_w[:, 0]
    phi_st = (1 - b.a_m / b.a_t - b.h_win_w_k / (9.1 * b.a_t)) * shared
    phi_m = b.a_m / b.a_t * shared
    air, s, m, te = r.indoor_c[:, 0], r.surface_c[:, 0], r.mass_c[:, 0], r.outdoor_c
    # air node (no capacity): every watt in goes out
    air_in = phi_ia + b.h_ve * (te - air) + b.h_tr_is * (s - air)
    assert np.max(np.abs(air_in)) < 1e-6 * np.max(np.abs(phi_ia) + 1)
    # surface node (no capacity)
    s_in = phi_st + b.h_win_w_k * (te - s) + b.h_tr_is * (air - s) + b.h_tr_ms * (m - s)
    assert np.max(np.abs(s_in)) < 1e-6 * np.max(np.abs(phi_st) + 1)
    # mass node: what flows in over a step is what its capacity stores (Crank-Nicolson)
    m_in = phi_m + b.h_tr_em * (te - m) + b.h_tr_ms * (s - m)
    # mass at the end of each step from the mid-step means: m_end[t] = 2 m[t] - m_end[t-1]
    m_end = np.empty_like(m)
    prev = r.final_mass_c[0]
    for t in range(len(m) - 1, -1, -1):  # walk back from the final state
        m_end[t] = prev
        prev = 2 * m[t] - prev
    stored = b.c_m_j_k * np.diff(np.concatenate([[prev], m_end])) / r.step_s
    assert np.max(np.abs(stored - m_in)) < 1e-6 * np.max(np.abs(m_in) + 1)


def test_heat_pump_electricity_is_heat_over_cop() -> None:
    system = HeatingSystem(kind="heat-pump", heating_w=20_000, backup_w=0, auxiliary_w=0)
    config = TwinConfig(
        building=Building.typical(120, "2000s"), system=system, tank=NO_TANK, occupancy=QUIET
    )
    outdoor = np.linspace(-8, 12, 24 * 10)
    r = simulate(config, weather(len(outdoor), outdoor), step_s=3600, initial_indoor_c=21.0)
    heat, elec = r.heat_w[:, 0], r.electricity_w[:, 0]
    on = heat > 1
    assert on.sum() > 100
    from analytics.thermal.systems import supply_temperature

    cop = np.array(
        [heat_pump_cop(t, supply_temperature(t, 45.0, 28.0, -10.0), 0.45) for t in r.outdoor_c]
    )
    assert np.allclose(elec[on], heat[on] / cop[on], rtol=1e-9)
    assert cop[on].min() > 2.5 and cop[on].max() < 7.0, (
        "plausible COPs for -8..12 degC (A-7/W45 to A12/W31)"
    )
    assert cop[-1] > cop[0], "a heat pump is more efficient in milder weather"


def test_boiler_uses_more_fuel_than_heat_and_is_best_at_part_load() -> None:
    from analytics.thermal.systems import boiler_efficiency

    assert boiler_efficiency(0.3, 0.88, 0.97, 0.25, 0.15) > boiler_efficiency(
        1.0, 0.88, 0.97, 0.25, 0.15
    )
    assert boiler_efficiency(0.05, 0.88, 0.97, 0.25, 0.15) < boiler_efficiency(
        0.25, 0.88, 0.97, 0.25, 0.15
    )
    config = TwinConfig(building=Building.typical(120), tank=NO_TANK, occupancy=QUIET)
    r = simulate(config, weather(24 * 5, 0.0), initial_indoor_c=21.0)
    assert (r.fuel_w[:, 0] >= r.heat_w[:, 0]).all()


def test_hot_water_tank_heat_covers_draws_and_losses() -> None:
    tank = HotWaterTank(volume_l=200, ua_w_k=2.0, heater="resistance", heater_w=3000)
    config = TwinConfig(
        building=Building.typical(120),
        system=HeatingSystem(kind="none"),
        tank=tank,
        occupancy=Occupancy(people=3),
    )
    days = 14
    r = simulate(config, weather(24 * days, 15.0), initial_indoor_c=20.0)
    litres = 3 * 45.0 * days
    draw_kwh = litres * 4186 * (tank.setpoint_c - tank.cold_c) / 3.6e6
    heat_kwh = r.energy_kwh(r.dhw_w)[0]
    # heat in = draws at (roughly) the tank temperature + standing losses (about 2 W/K x 35 K)
    loss_kwh = 2.0 * (tank.setpoint_c - 2.5 - 20.0) * 24 * days / 1000
    assert heat_kwh == pytest.approx(draw_kwh + loss_kwh, rel=0.08)


def test_controls_setpoint_offset_modulation_and_off() -> None:
    config = TwinConfig(
        building=Building.typical(120),
        system=HeatingSystem(kind="heat-pump", heating_w=8000),
        tank=NO_TANK,
    )
    w = weather(24 * 3, 2.0)
    base = simulate(config, w)
    lower = simulate(config, w, controls=Controls(setpoint_offset_k=-1.0))
    half = simulate(config, w, controls=Controls(modulation=0.3))
    off = np.ones(len(base.times))
    off[100:140] = 0
    paused = simulate(config, w, controls=Controls(device_on=off))
    assert lower.energy_kwh(lower.heat_w)[0] < base.energy_kwh(base.heat_w)[0]
    assert (
        half.heat_w.max() <= 0.3 * (config.system.heating_w * (1 + 0.025 * (2 - 7)) + 3000) + 1e-6
    )
    assert (paused.heat_w[100:140, 0] == 0).all()
    assert paused.indoor_c[139, 0] < base.indoor_c[139, 0] - 0.3, "it cools while the device is off"


def test_deadband_and_on_off_cycling() -> None:
    occ = Occupancy(
        people=0,
        appliance_w_m2=0,
        litres_per_person_day=0,
        comfort_c=20,
        setback_c=20,
        deadband_k=1.0,
    )
    boiler = HeatingSystem(kind="boiler", heating_w=12000)
    config = TwinConfig(building=Building.typical(120), tank=NO_TANK, occupancy=occ, system=boiler)
    w = weather(24 * 4, -5.0)
    modulating = simulate(config, w, initial_indoor_c=20.0)
    # the thermostat acts at the band's lower edge
    assert modulating.indoor_c[8:, 0] == pytest.approx(19.5, abs=1e-9)
    cycling = simulate(
        config.with_(system=HeatingSystem(kind="boiler", heating_w=12000, on_off=True)),
        w,
        initial_indoor_c=20.0,
    )
    assert cycling.heat_w == pytest.approx(modulating.heat_w)
    # ... but cycling costs fuel: start/stop losses at every part load
    assert (
        cycling.energy_kwh(cycling.fuel_w)[0] > 1.05 * modulating.energy_kwh(modulating.fuel_w)[0]
    )


def test_bad_configuration_and_weather_are_refused_clearly() -> None:
    with pytest.raises(ThermalConfigError, match="ach"):
        Building(ach=-1)
    with pytest.raises(ThermalConfigError, match="unknown heating system"):
        HeatingSystem(kind="fusion")
    with pytest.raises(ThermalConfigError, match="pattern"):
        Occupancy(pattern="nomad")
    w = weather(48)
    w.iloc[5, 0] = np.nan
    with pytest.raises(ThermalDataError, match=r"gaps .* outdoor_c"):
        simulate(TwinConfig(), w)
    with pytest.raises(ThermalDataError, match="missing rows"):
        simulate(TwinConfig(), weather(48).drop(weather(48).index[7]))
    with pytest.raises(ThermalDataError, match="columns missing: direct_w_m2"):
        simulate(TwinConfig(), weather(48).drop(columns="direct_w_m2"))
