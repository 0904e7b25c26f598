"""The bridge end to end on a real Mosquitto: readings on the bus, device status, bad input,
comfort rules turning preferences into device commands on MQTT, advice on poor air."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable

import pytest

from gateway_bridge.adapters import Adapter, Decoded, register_adapter
from gateway_bridge.broker import MosquittoBroker
from gateway_bridge.domain import ComfortMode, DeviceRegistry, Preferences, Property
from gateway_bridge.errors import BrokerError, DeviceNotFoundError
from gateway_bridge.rules import FlexShift, RuleConfig
from gateway_bridge.service import BridgeService
from gateway_bridge.settings import BridgeSettings
from tests.gateway_bridge.conftest import Probe, Recorder, site_devices


@pytest.fixture
def gw(broker: MosquittoBroker):
    p = Probe(broker.port)
    yield p
    p.close()


def reading(device: str, prop: str) -> Callable[[dict], bool]:
    return lambda v: v["device_id"] == device and v["property"] == prop


def test_zigbee2mqtt_readings_reach_the_bus_in_canonical_units(service, gw, recorder):
    gw.publish(
        "zigbee2mqtt/h1/meter",
        {"power": 2.5e3, "energy": 1.25, "battery": 88, "linkquality": 99, "update": {}},
    )
    energy = recorder.wait("meter.readings", reading("h1-meter", "energy"))
    assert energy["value"] == 1250.0 and energy["unit"] == "Wh"
    assert energy["household_id"] == "h1" and energy["adapter"] == "zigbee2mqtt"
    power = recorder.wait("meter.readings", reading("h1-meter", "power"))
    assert (power["value"], power["unit"]) == (2500.0, "W")
    assert abs(power["time_s"] - time.time()) < 5  # no timestamp in the message: receipt time

    status = service.status.get("h1-meter")
    assert status["online"] is True
    assert status["battery_pct"] == 88 and status["linkquality"] == 99
    assert status["values"]["energy"]["value"] == 1250.0
    assert status["values"]["energy"]["unit"] == "Wh"
    assert service.stats()["readings"] == 4


def test_openhab_readings_with_units_in_the_state_text(service, gw, recorder):
    gw.publish("openhab/h2air_Temperature/state", "70.7 °F")
    gw.publish("openhab/H2_Meter_Total/state", "3.5")  # item metadata says kWh
    temp = recorder.wait("meter.readings", reading("h2-air", "temperature"))
    assert temp["unit"] == "degC" and temp["value"] == pytest.approx(21.5, abs=0.01)
    energy = recorder.wait("meter.readings", reading("h2-meter", "energy"))
    assert (energy["value"], energy["unit"]) == (3500.0, "Wh")
    last = service.status.latest("h2-meter", Property.ENERGY)
    assert last is not None and last.value == 3500.0


def test_status_online_offline(service, gw, recorder):
    with pytest.raises(DeviceNotFoundError):
        service.status.get("nobody")
    assert service.status.get("h1-air")["online"] is False  # never heard of
    gw.publish("zigbee2mqtt/h1/air", {"temperature": 20.5})
    recorder.wait("meter.readings", reading("h1-air", "temperature"))
    assert service.status.is_online("h1-air")
    # silent for longer than offline_after_s (600 s by default): offline
    assert not service.status.is_online("h1-air", now_s=time.time() + 601)
    gw.publish("zigbee2mqtt/h1/air/availability", {"state": "offline"})
    assert service.status.wait_for(lambda: not service.status.is_online("h1-air"), 5)
    assert service.status.get("h1-air")["availability"] is False
    gw.publish("zigbee2mqtt/h1/air/availability", "online")
    assert service.status.wait_for(lambda: service.status.is_online("h1-air"), 5)
    offline = [d["device_id"] for d in service.status.list(household_id="h1", online=False)]
    assert offline == ["h1-boiler", "h1-dehum", "h1-meter"]


NOW = time.time
AIR, METER = "zigbee2mqtt/h1/air", "zigbee2mqtt/h1/meter"
DEEP = b"[" * 9_000 + b"]" * 9_000  # parses as a list wherever the recursion limit allows it


def bad_inputs() -> list[tuple[str, str, Callable[[], list[tuple[str, object]]]]]:
    ts = lambda offset=0.0: NOW() + offset  # noqa: E731
    return [
        ("malformed_payload", "json", lambda: [("zigbee2mqtt/h1/air", b"{temperature: 21")]),
        ("malformed_payload", "array", lambda: [("zigbee2mqtt/h1/air", b"[21]")]),
        ("unknown_device", "z2m", lambda: [("zigbee2mqtt/h9/air", {"temperature": 21})]),
        ("unknown_device", "openhab", lambda: [("openhab/h9air_Temperature/state", "21")]),
        ("unknown_adapter", "tasmota", lambda: [("tasmota/plug1/SENSOR", b'{"ENERGY": {}}')]),
        ("unknown_property", "openhab", lambda: [("openhab/h2air_Colour/state", "red")]),
        ("wrong_unit", "z2m", lambda: [("zigbee2mqtt/h1/air", {"co2": {"value": 5, "unit": "W"}})]),
        ("wrong_unit", "openhab", lambda: [("openhab/h2air_Temperature/state", "21 kWh")]),
        ("bad_value", "z2m", lambda: [("zigbee2mqtt/h1/air", {"temperature": "warm"})]),
        ("negative_value", "energy", lambda: [("zigbee2mqtt/h1/meter", {"energy": -3.2})]),
        ("negative_value", "power", lambda: [("openhab/h2hp_Power/state", "-40 W")]),
        ("absurd_value", "power", lambda: [("zigbee2mqtt/h1/meter", {"power": 9e6})]),
        ("absurd_value", "humidity", lambda: [("zigbee2mqtt/h1/air", {"humidity": 180})]),
        ("clock_skew_future", "z2m", lambda: [(AIR, {"co2": 600, "time_s": ts(3600)})]),
        ("clock_skew_past", "z2m", lambda: [(AIR, {"co2": 600, "time_s": ts(-9 * 86400)})]),
        ("duplicate", "z2m", lambda: [(METER, m := {"energy": 2.0, "time_s": ts(-5)}), (METER, m)]),
        # the parsed reading is the duplicate, not the bytes: the same keys in another order
        ("duplicate", "reordered", lambda: [
            (METER, {"energy": 2.0, "time_s": (t := ts(-5))}),
            (METER, {"time_s": t, "energy": 2.0}),
        ]),
        # parse failures: not a JSON number, a number no float holds, nesting, a time of NaN
        ("malformed_payload", "nan", lambda: [(AIR, b'{"temperature": NaN}')]),
        ("malformed_payload", "infinity", lambda: [(METER, b'{"power": -Infinity}')]),
        ("malformed_payload", "float-overflow", lambda: [(METER, b'{"power": 1e400}')]),
        ("malformed_payload", "int-overflow", lambda: [(METER, b'{"power": 1%s}' % (b"0" * 400))]),
        ("malformed_payload", "deep", lambda: [(AIR, b'{"co2": %s}' % DEEP)]),
        ("malformed_payload", "time-nan", lambda: [(AIR, b'{"co2": 600, "time_s": NaN}')]),
        ("malformed_payload", "openhab-overflow", lambda: [("openhab/h2hp_Power/state", "1e9999")]),
        # words and booleans are no numbers
        ("bad_value", "energy-word", lambda: [(METER, {"energy": "OFF"})]),
        ("bad_value", "energy-bool", lambda: [(METER, {"energy": True})]),
        ("bad_value", "power-word", lambda: [(METER, {"power": "ON"})]),
        ("bad_value", "power-bool", lambda: [(METER, {"power": True})]),
        ("bad_value", "openhab-energy-word", lambda: [("openhab/H2_Meter_Total/state", "OPEN")]),
        ("bad_value", "openhab-power-word", lambda: [("openhab/h2hp_Power/state", "ON")]),
        # an energy counter only rises, whichever reading arrives first
        ("counter_decreased", "later-lower", lambda: [
            (METER, {"energy": 2.0, "time_s": ts(-10)}), (METER, {"energy": 1.5, "time_s": ts(-5)}),
        ]),
        ("counter_decreased", "earlier-higher", lambda: [
            (METER, {"energy": 2.0, "time_s": ts(-5)}), (METER, {"energy": 2.5, "time_s": ts(-10)}),
        ]),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("reason", "messages"),
    [pytest.param(r, m, id=f"{r}-{k}") for r, k, m in bad_inputs()],
)
def test_each_bad_input_is_counted_with_its_reason_and_the_bridge_keeps_going(
    make_service, gw, recorder: Recorder, reason, messages
):
    service: BridgeService = make_service(adapters={
        "zigbee2mqtt": "zigbee2mqtt", "openhab": "openhab", "tasmota": "tasmota",
    })  # fmt: skip
    before = service.stats()["rejected"]
    for topic, payload in messages():
        gw.publish(topic, payload)
    gw.publish("zigbee2mqtt/h1/air", {"temperature": 19.75})  # a good one after the bad one
    recorder.wait("meter.readings", lambda v: v["value"] == 19.75)
    stats = service.stats()
    assert stats["rejected"][reason] == before[reason] + 1
    assert stats["rejected_total"] == 1  # and nothing else was refused
    entry = stats["quarantine"][-1]
    assert entry["reason"] == reason and entry["detail"]
    quarantined = recorder.wait("gateway.quarantine", lambda v: v["reason"] == reason)
    assert quarantined["topic"] == messages()[0][0]


def test_replay_after_the_duplicate_window(make_service, gw, recorder):
    service = make_service(duplicate_window_s=0.2)
    message = {"energy": 4.0, "time_s": time.time() - 10}
    gw.publish("zigbee2mqtt/h1/meter", message)
    recorder.wait("meter.readings", lambda v: v["value"] == 4000.0)
    time.sleep(0.3)
    gw.publish("zigbee2mqtt/h1/meter", message)
    gw.publish("zigbee2mqtt/h1/meter", {"energy": 4.5, "time_s": time.time() - 9})
    recorder.wait("meter.readings", lambda v: v["value"] == 4500.0)
    assert service.stats()["rejected"]["replayed"] == 1
    assert len([v for _, v in recorder.by_topic["meter.readings"] if v["value"] == 4000.0]) == 1


def test_a_payload_over_the_bridge_limit_is_refused_unread(make_service, gw, recorder):
    service = make_service(max_payload_bytes=1000)
    gw.publish("zigbee2mqtt/h1/meter", {"energy": 7.0, "pad": "x" * 2000})
    gw.publish("zigbee2mqtt/h1/air", {"temperature": 19.5})
    recorder.wait("meter.readings", lambda v: v["value"] == 19.5)
    stats = service.stats()
    assert stats["rejected"]["payload_too_large"] == 1 and stats["rejected_total"] == 1
    assert not [v for _, v in recorder.by_topic["meter.readings"] if v["value"] == 7000.0]


def test_a_64_mb_reading_is_refused_without_being_read(bus):
    service = BridgeService(
        BridgeSettings(client_id="unconnected"), registry=DeviceRegistry(site_devices()), bus=bus
    )
    payload = b'{"energy": 7.0, "pad": "' + b"x" * (64 * 2**20) + b'"}'
    tracemalloc.start()
    try:
        readings = service.bridge.handle("zigbee2mqtt/h1/meter", payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert readings == []
    assert service.stats()["rejected"]["payload_too_large"] == 1
    assert peak < 2**20  # never decoded nor copied (parsing it took the bridge to 312 MB)


def test_the_broker_forwards_no_message_over_its_size_limit(broker, service, gw, recorder):
    assert f"message_size_limit {broker.message_size_limit}" in broker.config_file.read_text()
    big = {"energy": 7.0, "pad": "x" * (broker.message_size_limit + 1)}
    gw.publish("zigbee2mqtt/h1/meter", big)  # the broker completes QoS 1, forwards nothing
    gw.publish("zigbee2mqtt/h1/air", {"temperature": 19.25})
    recorder.wait("meter.readings", lambda v: v["value"] == 19.25)
    stats = service.stats()
    assert stats["messages"] == 1 and stats["rejected_total"] == 0


def test_a_late_reading_is_published_but_does_not_replace_newer_status(service, gw, recorder):
    now = time.time()
    gw.publish("zigbee2mqtt/h1/meter", {"energy": 5.0, "time_s": now})
    gw.publish("zigbee2mqtt/h1/meter", {"energy": 4.9, "time_s": now - 1800})  # 30 min late
    recorder.wait("meter.readings", lambda v: v["value"] == 4900.0)
    last = service.status.latest("h1-meter", Property.ENERGY)
    assert last is not None and last.value == 5000.0


def test_a_crashing_adapter_is_counted_and_does_not_stop_the_bridge(make_service, gw, recorder):
    @register_adapter
    class Crashing(Adapter):
        name = "crashing-test"

        def decode(self, topic, payload, registry) -> Decoded:
            raise ZeroDivisionError("adapter bug")

        def encode(self, device, command):
            return []

    service = make_service(adapters={"zigbee2mqtt": "zigbee2mqtt", "crash": "crashing-test"})
    gw.publish("crash/x", b"{}")
    gw.publish("zigbee2mqtt/h1/air", {"temperature": 18.25})
    recorder.wait("meter.readings", lambda v: v["value"] == 18.25)
    assert service.stats()["rejected"]["internal_error"] == 1


def setpoint_of(device_topic: str) -> Callable[[str, bytes], bool]:
    return lambda t, b: t == device_topic


def test_preference_change_becomes_device_commands_on_mqtt(service, probe):
    service.set_preferences(
        Preferences(household_id="h1", temperature_min_c=19, temperature_max_c=23)
    )
    body = json.loads(probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set")))
    assert body == {"current_heating_setpoint": 21.0}
    service.set_preferences(
        Preferences(
            household_id="h1", temperature_min_c=19, temperature_max_c=23, mode=ComfortMode.ECONOMY
        )
    )
    body = json.loads(probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set")))
    assert body == {"current_heating_setpoint": 19.0}

    # the same rule drives an openHAB heat pump
    service.set_preferences(
        Preferences(household_id="h2", temperature_min_c=20, temperature_max_c=22)
    )
    assert probe.expect(setpoint_of("openhab/h2hp_Mode/command")) == b"HEAT"
    assert probe.expect(setpoint_of("openhab/h2hp_Setpoint/command")) == b"21"


def test_flexibility_shift_stays_within_the_comfort_band(service, probe):
    service.set_preferences(
        Preferences(household_id="h1", temperature_min_c=19, temperature_max_c=22)
    )
    probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set"))
    service.set_flex_shift("h1", FlexShift(shift_c=-5.0))
    body = json.loads(probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set")))
    assert body == {"current_heating_setpoint": 19.0}


def test_readings_drive_the_dehumidifier_and_the_heat_pump_mode(service, gw, probe):
    service.set_preferences(
        Preferences(household_id="h1", humidity_max_rh=60, mode=ComfortMode.ECONOMY)
    )
    gw.publish("zigbee2mqtt/h1/air", {"humidity": 72})
    assert json.loads(probe.expect(setpoint_of("zigbee2mqtt/h1/dehum_plug/set"))) == {"state": "ON"}
    gw.publish("zigbee2mqtt/h1/air", {"humidity": 50})
    assert json.loads(probe.expect(setpoint_of("zigbee2mqtt/h1/dehum_plug/set"))) == {
        "state": "OFF"
    }
    service.set_preferences(
        Preferences(household_id="h2", temperature_min_c=20, temperature_max_c=22)
    )
    assert probe.expect(setpoint_of("openhab/h2hp_Mode/command")) == b"HEAT"
    gw.publish("openhab/h2air_Temperature/state", "24.5 °C")
    assert probe.expect(setpoint_of("openhab/h2hp_Mode/command")) == b"COOL"


def test_rules_also_run_on_the_timer(make_service, probe):
    service = make_service(rules=RuleConfig(interval_s=0.2, reassert_s=0.1))
    service.set_preferences(Preferences(household_id="h1"))
    probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set"))
    # nothing changes, yet the timer re-asserts the command once it is due
    probe.expect(setpoint_of("zigbee2mqtt/h1/boiler/set"), timeout_s=3)
    assert service.engine.evaluations >= 2


def test_high_co2_gives_ventilation_advice_and_then_clears(service, gw, recorder):
    gw.publish("zigbee2mqtt/h1/air", {"co2": 1350})
    advice = recorder.wait("household.advice", lambda v: v["level"] == "warning")
    assert advice["kind"] == "ventilate" and advice["household_id"] == "h1"
    assert advice["value"] == 1350 and advice["threshold"] == 1000
    gw.publish("zigbee2mqtt/h1/air", {"co2": 1400})  # still high: no second warning
    gw.publish("zigbee2mqtt/h1/air", {"co2": 700})
    recorder.wait("household.advice", lambda v: v["level"] == "cleared")
    levels = [v["level"] for _, v in recorder.by_topic["household.advice"]]
    assert levels == ["warning", "cleared"]


def test_bridge_over_tls_with_client_certificate(make_service, broker, recorder):
    assert broker.tls is not None
    make_service(
        mqtt_port=broker.tls_port,
        mqtt_tls=True,
        ca_file=broker.tls.ca_cert,
        cert_file=broker.tls.client_cert(),
        key_file=broker.tls.client_key(),
    )
    gw = Probe(broker.port)  # the gateway on the plain listener, the bridge over TLS
    try:
        gw.publish("zigbee2mqtt/h1/meter", {"power": 321})
        assert recorder.wait("meter.readings", reading("h1-meter", "power"))["value"] == 321
    finally:
        gw.close()


def test_bridge_without_client_certificate_is_refused(make_service, broker):
    assert broker.tls is not None
    with pytest.raises(BrokerError):
        make_service(mqtt_port=broker.tls_port, mqtt_tls=True, ca_file=broker.tls.ca_cert)
