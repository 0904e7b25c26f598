"""Units, plausibility, preferences and the setpoint rule (pure, no broker)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway_bridge.domain import (
    CANONICAL_UNIT,
    ComfortMode,
    Preferences,
    Property,
    Reading,
    RejectReason,
    Unit,
    check_plausible,
    normalise_unit,
    to_canonical,
)
from gateway_bridge.errors import UnitError
from gateway_bridge.rules import heating_setpoint_c


@pytest.mark.parametrize(
    ("prop", "value", "unit", "expected"),
    [
        (Property.ENERGY, 1.25, "kWh", 1250.0),
        (Property.ENERGY, 3.6, "MJ", 1000.0),
        (Property.POWER, 2.5, "kW", 2500.0),
        (Property.POWER, 412, "W", 412.0),
        (Property.TEMPERATURE, 212, "°F", 100.0),
        (Property.TEMPERATURE, 294.15, "K", 21.0),
        (Property.TEMPERATURE, 21.5, "°C", 21.5),
        (Property.HUMIDITY, 48, "%", 48.0),
        (Property.VOC, 1.2, "ppm", 1200.0),
        (Property.PM25, 12, "µg/m³", 12.0),
        (Property.ENERGY, 2, "KWH", 2000.0),
        (Property.ENERGY, 7, None, 7.0),
    ],
)
def test_to_canonical_converts_units(prop, value, unit, expected):
    assert to_canonical(prop, value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prop", "unit"), [(Property.TEMPERATURE, "ppm"), (Property.ENERGY, "W"), (Property.CO2, "lx")]
)
def test_to_canonical_refuses_units_of_another_quantity(prop, unit):
    with pytest.raises(UnitError, match=unit) as info:
        to_canonical(prop, 1.0, unit)
    assert isinstance(info.value, ValueError)


def test_milli_and_mega_watts_are_not_confused():
    assert normalise_unit("mW") == "mW"
    assert normalise_unit("MW") == "MW"
    assert to_canonical(Property.POWER, 1, "mW") == pytest.approx(0.001)
    assert normalise_unit("mw") == "mw"  # ambiguous: left as is, so it is refused
    with pytest.raises(UnitError):
        to_canonical(Property.POWER, 1, "mw")


def test_every_property_has_a_canonical_unit():
    assert set(CANONICAL_UNIT) == set(Property)
    assert CANONICAL_UNIT[Property.ENERGY] is Unit.WH
    assert CANONICAL_UNIT[Property.TEMPERATURE] is Unit.DEGC


@pytest.mark.parametrize(
    ("prop", "value", "reason"),
    [
        (Property.POWER, -5.0, RejectReason.NEGATIVE_VALUE),
        (Property.ENERGY, -1.0, RejectReason.NEGATIVE_VALUE),
        (Property.POWER, 1e7, RejectReason.ABSURD_VALUE),
        (Property.TEMPERATURE, -80.0, RejectReason.ABSURD_VALUE),
        (Property.HUMIDITY, 130.0, RejectReason.ABSURD_VALUE),
        (Property.CO2, math.nan, RejectReason.ABSURD_VALUE),
        (Property.POWER, math.inf, RejectReason.ABSURD_VALUE),
        (Property.TEMPERATURE, -5.0, None),
        (Property.CO2, 850.0, None),
    ],
)
def test_check_plausible(prop, value, reason):
    assert check_plausible(prop, value) == reason


def test_reading_round_trips_through_a_dict():
    r = Reading("d1", Property.ENERGY, 1250.0, Unit.WH, 1_700_000_000.0)
    data = r.to_dict()
    assert data == {
        "device_id": "d1",
        "property": "energy",
        "value": 1250.0,
        "unit": "Wh",
        "time_s": 1_700_000_000.0,
    }
    assert Reading.from_dict(data) == r


@pytest.mark.parametrize(
    "fields",
    [
        {"temperature_min_c": 22, "temperature_max_c": 21},
        {"temperature_min_c": 21, "temperature_max_c": 21.2},
        {"humidity_min_rh": 50, "humidity_max_rh": 52},
        {"temperature_min_c": 2},
        {"mode": "turbo"},
        {"colour": "blue"},
        {"household_id": ""},
    ],
)
def test_preferences_refuse_invalid_bands(fields):
    with pytest.raises(ValidationError):
        Preferences(**{"household_id": "h1", **fields})


def test_setpoint_comfort_middle_economy_low_edge():
    comfort = Preferences(household_id="h", temperature_min_c=19, temperature_max_c=23)
    economy = comfort.model_copy(update={"mode": ComfortMode.ECONOMY})
    assert heating_setpoint_c(comfort) == 21.0
    assert heating_setpoint_c(economy) == 19.0
    assert heating_setpoint_c(comfort, shift_c=1.0) == 22.0
    assert heating_setpoint_c(comfort, shift_c=10.0) == 23.0  # clamped to the band
    assert heating_setpoint_c(economy, shift_c=-3.0) == 19.0


@given(
    low=st.floats(10, 27.5),
    width=st.floats(0.501, 10),
    shift=st.floats(-20, 20),
    economy=st.booleans(),
)
def test_setpoint_never_leaves_the_band(low, width, shift, economy):
    high = min(low + width, 30.0)
    prefs = Preferences(
        household_id="h",
        temperature_min_c=low,
        temperature_max_c=high,
        mode=ComfortMode.ECONOMY if economy else ComfortMode.COMFORT,
    )
    setpoint = heating_setpoint_c(prefs, shift)
    assert low - 1e-9 <= setpoint <= high + 1e-9
