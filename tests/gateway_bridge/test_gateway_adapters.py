"""Adapters decode gateway messages and encode commands (pure, no broker)."""

from __future__ import annotations

import json

import pytest

from gateway_bridge.adapters import ADAPTERS, Adapter, Decoded, get_adapter, register_adapter
from gateway_bridge.adapters.openhab import OpenHabAdapter
from gateway_bridge.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from gateway_bridge.domain import Action, Command, Device, DeviceRegistry, Property, RejectReason
from gateway_bridge.errors import RejectedMessage, UnknownAdapterError
from tests.gateway_bridge.conftest import site_devices


@pytest.fixture
def registry() -> DeviceRegistry:
    return DeviceRegistry(site_devices())


def values(decoded: Decoded) -> dict[Property, tuple[float, str | None]]:
    return {v.property: (v.value, v.unit) for v in decoded.values}


def test_both_adapters_are_registered_by_name():
    assert ADAPTERS["zigbee2mqtt"] is Zigbee2MqttAdapter
    assert ADAPTERS["openhab"] is OpenHabAdapter
    with pytest.raises(UnknownAdapterError, match="tasmota"):
        get_adapter("tasmota")


def test_a_new_adapter_registers_itself():
    @register_adapter
    class Shelly(Adapter):
        name = "shelly-test"

        def decode(self, topic, payload, registry):
            return Decoded(ignore=True)

        def encode(self, device, command):
            return []

    assert get_adapter("shelly-test") is Shelly
    assert Shelly().subscriptions() == ["shelly-test/#"]


def test_zigbee2mqtt_state_message(registry):
    payload = {
        "power": 412,
        "energy": 1.25,
        "temperature": 21.3,
        "humidity": 48,
        "occupancy": True,
        "contact": False,
        "co2": 650,
        "voc": 120,
        "pm25": 8,
        "state": "ON",
        "battery": 97,
        "linkquality": 120,
        "update": {"state": "idle"},
        "child_lock": "UNLOCK",
    }
    d = Zigbee2MqttAdapter().decode("zigbee2mqtt/h1/air", json.dumps(payload).encode(), registry)
    assert d.device is not None and d.device.device_id == "h1-air"
    got = values(d)
    assert got[Property.ENERGY] == (1.25, "kWh")  # converted by the bridge
    assert got[Property.POWER] == (412, "W")
    assert got[Property.OCCUPANCY] == (1.0, None)
    assert got[Property.CONTACT] == (0.0, None)
    assert got[Property.STATE] == (1.0, None)
    assert got[Property.PM25] == (8, "ug/m3")
    assert len(got) == 12  # update and child_lock ignored
    assert d.time_s is None and not d.problems


def test_zigbee2mqtt_units_in_payload_and_timestamps(registry):
    a = Zigbee2MqttAdapter()
    d = a.decode(
        "zigbee2mqtt/h1/meter",
        b'{"power": {"value": 2.5, "unit": "kW"}, "last_seen": "2026-11-26T12:00:00Z"}',
        registry,
    )
    assert values(d)[Property.POWER] == (2.5, "kW")
    assert d.time_s == 1795694400.0
    d = a.decode("zigbee2mqtt/h1/meter", b'{"power": 1, "last_seen": 1795694400123}', registry)
    assert d.time_s == pytest.approx(1795694400.123)
    d = a.decode("zigbee2mqtt/h1/meter", b'{"power": 1, "time_s": 1795694400.5}', registry)
    assert d.time_s == 1795694400.5


def test_zigbee2mqtt_bad_values_are_problems_not_exceptions(registry):
    d = Zigbee2MqttAdapter().decode(
        "zigbee2mqtt/h1/air", b'{"temperature": "warm", "humidity": 50}', registry
    )
    assert values(d) == {Property.HUMIDITY: (50, "%RH")}
    assert [reason for reason, _ in d.problems] == [RejectReason.BAD_VALUE]


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[1, 2]",
        b"\xff\xfe",
        b'{"power": 1, "last_seen": "yesterday"}',
        b'{"power": NaN}',
        b'{"power": Infinity}',
        b'{"power": 1e400}',
        b'{"power": -1e999}',
        b'{"power": 1' + b"0" * 400 + b"}",
        b'{"time_s": NaN, "power": 1}',
        b'{"time_s": 1e400, "power": 1}',
        b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"a": ' + b'{"b": ' * 5_000 + b"1" + b"}" * 5_000 + b"}",
        b'{"co2": ' + b"[" * 40 + b"]" * 40 + b"}",  # deeper than any gateway nests
    ],
    ids=lambda p: p[:24].decode("utf-8", "replace"),
)
def test_zigbee2mqtt_malformed(registry, payload):
    with pytest.raises(RejectedMessage) as info:
        Zigbee2MqttAdapter().decode("zigbee2mqtt/h1/air", payload, registry)
    assert info.value.reason == RejectReason.MALFORMED_PAYLOAD


@pytest.mark.parametrize(
    ("payload", "prop", "expected"),
    [
        ({"energy": 1.25}, Property.ENERGY, 1.25),
        ({"energy": "OFF"}, Property.ENERGY, None),  # was 0 Wh
        ({"energy": True}, Property.ENERGY, None),  # was 1 kWh
        ({"energy": "1.25"}, Property.ENERGY, None),  # a numeric string is no number either
        ({"power": "ON"}, Property.POWER, None),  # was 1 W
        ({"power": False}, Property.POWER, None),
        ({"power": {"value": True, "unit": "kW"}}, Property.POWER, None),
        ({"state": "ON"}, Property.STATE, 1.0),
        ({"state": "off"}, Property.STATE, 0.0),
        ({"state": 1}, Property.STATE, 1.0),
        ({"state": 7}, Property.STATE, None),
        ({"contact": True}, Property.CONTACT, 1.0),
        ({"occupancy": False}, Property.OCCUPANCY, 0.0),
        ({"occupancy": 0.5}, Property.OCCUPANCY, None),
    ],
)
def test_zigbee2mqtt_values_are_typed_by_property(registry, payload, prop, expected):
    d = Zigbee2MqttAdapter().decode("zigbee2mqtt/h1/meter", json.dumps(payload).encode(), registry)
    if expected is None:
        assert values(d) == {} and [r for r, _ in d.problems] == [RejectReason.BAD_VALUE]
    else:
        assert values(d)[prop][0] == expected and not d.problems


@pytest.mark.parametrize(
    ("item", "text", "ok"),
    [
        ("h2hp_Switch", "ON", True),
        ("h2hp_Power", "ON", False),  # was 1 W
        ("H2_Meter_Total", "OPEN", False),  # was 0 Wh
        ("H2_Meter_Total", "CLOSED", False),
        ("h2hp_Switch", "1", True),
    ],
)
def test_openhab_state_words_only_for_boolean_items(registry, item, text, ok):
    d = OpenHabAdapter().decode(f"openhab/{item}/state", text.encode(), registry)
    assert bool(d.values) is ok
    assert [r for r, _ in d.problems] == ([] if ok else [RejectReason.BAD_VALUE])


@pytest.mark.parametrize("text", ["1e400", "-1e400 W", "1e999 kWh"])
def test_openhab_numbers_no_float_holds_are_malformed(registry, text):
    with pytest.raises(RejectedMessage) as info:
        OpenHabAdapter().decode("openhab/h2hp_Power/state", text.encode(), registry)
    assert info.value.reason == RejectReason.MALFORMED_PAYLOAD


def test_brackets_inside_strings_do_not_count_as_nesting(registry):
    payload = json.dumps({"co2": 500, "note": "[" * 100 + '\\"{' * 50}).encode()
    d = Zigbee2MqttAdapter().decode("zigbee2mqtt/h1/air", payload, registry)
    assert values(d) == {Property.CO2: (500, "ppm")}


def test_zigbee2mqtt_availability_commands_and_bridge_topics(registry):
    a = Zigbee2MqttAdapter()
    d = a.decode("zigbee2mqtt/h1/air/availability", b'{"state": "offline"}', registry)
    assert d.availability is False and d.device is not None
    assert a.decode("zigbee2mqtt/h1/air/availability", b"online", registry).availability is True
    assert a.decode("zigbee2mqtt/h1/air/set", b'{"state": "ON"}', registry).ignore
    assert a.decode("zigbee2mqtt/bridge/state", b'{"state": "online"}', registry).ignore
    assert a.decode("zigbee2mqtt/nobody", b'{"power": 1}', registry).device is None


def test_zigbee2mqtt_encodes_the_rule_vocabulary():
    a = Zigbee2MqttAdapter()
    boiler = Device(device_id="b", household_id="h", adapter="zigbee2mqtt", address="h/boiler")
    trv = boiler.model_copy(update={"options": {"setpoint_key": "occupied_heating_setpoint"}})
    assert a.encode(boiler, Command("b", Action.SETPOINT, 20.5)) == [
        ("zigbee2mqtt/h/boiler/set", b'{"current_heating_setpoint": 20.5}')
    ]
    assert a.encode(trv, Command("b", Action.SETPOINT, 19.0))[0][1] == (
        b'{"occupied_heating_setpoint": 19.0}'
    )
    assert a.encode(boiler, Command("b", Action.SWITCH, False))[0][1] == b'{"state": "OFF"}'
    assert a.encode(boiler, Command("b", Action.MODE, "heat"))[0][1] == b'{"system_mode": "heat"}'


@pytest.mark.parametrize(
    ("item", "text", "prop", "value", "unit"),
    [
        ("h2air_Temperature", "21.5 °C", Property.TEMPERATURE, 21.5, "°C"),
        ("h2air_Humidity", "48 %", Property.HUMIDITY, 48.0, "%"),
        ("h2air_CO2", "1200", Property.CO2, 1200.0, None),
        ("h2air_PM25", "12 µg/m³", Property.PM25, 12.0, "µg/m³"),
        ("h2hp_Power", "1.2 kW", Property.POWER, 1.2, "kW"),
        ("h2hp_Switch", "ON", Property.STATE, 1.0, None),
        ("H2_Meter_Total", "1.25", Property.ENERGY, 1.25, "kWh"),  # unit from the item map
        ("H2_Meter_Total", "1250 Wh", Property.ENERGY, 1250.0, "Wh"),  # the state's unit wins
    ],
)
def test_openhab_states(registry, item, text, prop, value, unit):
    d = OpenHabAdapter().decode(f"openhab/{item}/state", text.encode(), registry)
    assert d.device is not None
    assert values(d) == {prop: (value, unit)}


def test_openhab_no_value_unknown_items_and_commands(registry):
    a = OpenHabAdapter()
    assert a.decode("openhab/h2air_Temperature/state", b"NULL", registry).values == []
    assert a.decode("openhab/h9air_Temperature/state", b"21", registry).device is None
    assert a.decode("openhab/h2hp_Setpoint/command", b"21", registry).ignore
    with pytest.raises(RejectedMessage) as info:
        a.decode("openhab/h2air_Colour/state", b"red", registry)
    assert info.value.reason == RejectReason.UNKNOWN_PROPERTY
    d = a.decode("openhab/h2air_Temperature/state", b"warm", registry)
    assert d.problems and d.problems[0][0] == RejectReason.BAD_VALUE


def test_openhab_encodes_commands_by_convention_and_metadata():
    a = OpenHabAdapter()
    hp = Device(device_id="hp", household_id="h", adapter="openhab", address="h2hp")
    assert a.encode(hp, Command("hp", Action.SETPOINT, 21.0)) == [
        ("openhab/h2hp_Setpoint/command", b"21")
    ]
    assert a.encode(hp, Command("hp", Action.MODE, "cool")) == [
        ("openhab/h2hp_Mode/command", b"COOL")
    ]
    mapped = hp.model_copy(update={"items": {"HeatPump_OnOff": "state"}})
    assert a.encode(mapped, Command("hp", Action.SWITCH, True)) == [
        ("openhab/HeatPump_OnOff/command", b"ON")
    ]
