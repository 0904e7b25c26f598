"""The demo community's data-in path: simulated gateways -> MQTT -> bridge -> meter oracle -> chain.

A Mosquitto broker (Debian's, started here) receives Zigbee2MQTT-style messages from one
virtual gateway per real CityLearn home (oracles/simulator.py: measured load and PV, with
noise, gaps and late messages); the gateway bridge normalises them onto the in-process bus
(``meter.readings``); the meter oracle aggregates 15-minute import/export energy and commits it
on-chain in signed batches, correcting late readings. The simulated clock runs at ``speed``
times real time from an hour before now.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.domain import Role
from chain.oracles import MeterOracleClient
from chain.platform import Platform
from core.errors import ToolchainError
from core.units import interval_start
from gateway_bridge.broker import MosquittoBroker, free_port
from gateway_bridge.domain import DeviceRegistry, Preferences
from gateway_bridge.rules import FlexShift
from gateway_bridge.service import BridgeService
from gateway_bridge.settings import BridgeSettings
from oracles.service import MeterOracleService
from oracles.settings import OracleSettings
from oracles.simulator import SimClock, make_homes, meter_ids, simulate, site_devices
from streams.bus import InProcessBus

if TYPE_CHECKING:
    from bright.demo import Member


class DemoDataIn:
    """Starts the broker, the bridge, the oracle and the simulator; ``stop()`` stops them."""

    def __init__(
        self,
        platform: Platform,
        members: list[Member],
        state_dir: Path,
        speed: float,
        *,
        clock: Any = None,
        delivery: Callable[[int], Mapping[str, int]] | None = None,
        net_w: Callable[[str, float], float | None] | None = None,
    ) -> None:
        """``clock`` (``now()``, ``wall_until()``; default: simulated time at ``speed`` from an
        hour ago) is shared by the simulator, the bridge and the oracle: the coordination demo
        passes :class:`chain.clock.ChainClock` so the homes meter the chain's intervals.
        ``delivery(interval_start_s) -> {meter id: Wh}`` is the homes' response to their
        flexibility targets and ``net_w(meter id, time_s)`` a home's net import where its
        physics (a controlled twin) gives it (see :func:`oracles.simulator.simulate`)."""
        if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
            raise ToolchainError("mosquitto is not installed: run `make setup`")
        self.platform = platform
        self.homes = sum(1 for m in members if m.role is Role.PROSUMER)
        self.oracle = next(m for m in members if m.role is Role.ORACLE)
        self.state_dir = state_dir
        self.speed = speed
        self.clock = clock
        self.delivery = delivery
        self.net_w = net_w
        self._stop = threading.Event()
        self.broker: MosquittoBroker | None = None
        self.bridge: BridgeService | None = None
        self.service: MeterOracleService | None = None
        self.thread: threading.Thread | None = None
        self._households: dict[str, str] = {}

    def start(self) -> DemoDataIn:
        try:
            return self._start()
        except BaseException:
            self.stop()  # what started (the broker, the bridge) stops again
            raise

    def _start(self) -> DemoDataIn:
        port = free_port()
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.broker = MosquittoBroker(
            self.state_dir / "mosquitto", port=port, persistence=False, executable=executable
        ).start()
        clock = self.clock
        if clock is None:
            start_s = interval_start(time.time() - 3600)
            clock = SimClock(float(start_s), self.speed)
        else:
            start_s = interval_start(clock.now() - 3600)
        virtual = make_homes(self.homes, seed=0)
        meters = meter_ids(virtual)
        device_of = {meter: device for device, meter in meters.items()}
        delivery = self.delivery

        def by_device(interval_s: int) -> dict[str, int]:
            assert delivery is not None
            return {device_of[m]: wh for m, wh in delivery(interval_s).items() if m in device_of}

        physics = self.net_w

        def net_by_device(device_id: str, time_s: float) -> float | None:
            assert physics is not None
            return physics(meters[device_id], time_s)

        self._households = {meters[h.device_id]: h.home_id for h in virtual}
        bus = InProcessBus()
        artifacts = self.platform.artifacts
        client = MeterOracleClient(
            self.platform.w3,
            self.platform.deployment.address("MeterOracle"),
            artifacts["MeterOracle"],
            self.platform.sender(self.oracle.account),
        )
        self.service = MeterOracleService(
            client,
            self.oracle.account,
            OracleSettings(),
            state_dir=self.state_dir / "oracle",
            clock=clock.now,
            meters=meter_ids(virtual),
            # the demo chain's batches signed with the demo oracle key are the demo's own (an
            # earlier run with another state folder); a concurrent signer is still refused
            adopt_chain=True,
        ).attach(bus)
        self.bridge = BridgeService(
            BridgeSettings(mqtt_port=port, client_id=f"bright-demo-bridge-{port}"),
            registry=DeviceRegistry(site_devices(virtual)),
            bus=bus,
            clock=clock.now,
        ).start()
        self.service.start()

        # The meters go on from their last readings the oracle kept (a restart must not
        # start their registers again: a counter only rises).
        resume = {
            device_of[meter]: last
            for meter, last in self.service.state.last_counters().items()
            if meter in device_of
        }

        def publish() -> None:
            simulate(
                homes=self.homes,
                speed=self.speed,
                duration_s=7 * 24 * 3600,
                start_s=start_s,
                mqtt_port=port,
                clock=clock,
                stop=self._stop,
                progress=lambda _msg: None,
                delivery=None if delivery is None else by_device,
                resume=resume,
                net_w=None if physics is None else net_by_device,
            )

        self.thread = threading.Thread(target=publish, name="demo-simulator", daemon=True)
        self.thread.start()
        return self

    def flex_shift(self, meter_id: str, shift_c: float, until_s: float) -> None:
        """A controller's setpoint shift for a home until ``until_s`` (chain time): the bridge's
        comfort rules turn it into device commands (ISM) on MQTT, clamped into the household's
        band (its preferences, the defaults where it set none)."""
        household = self._household(meter_id)
        if household is None or self.bridge is None:
            return
        if self.bridge.engine.preferences(household) is None:
            self.bridge.engine.set_preferences(Preferences(household_id=household))
        self.bridge.set_flex_shift(household, FlexShift(shift_c=shift_c, until_s=until_s))

    # -- the API's view of the gateway (api.service.GatewayView) --------------------------
    def _household(self, meter_id: str) -> str | None:
        return self._households.get(meter_id)

    def devices_of(self, meter_id: str) -> list[dict[str, Any]] | None:
        household = self._household(meter_id)
        if household is None or self.bridge is None:
            return None
        return self.bridge.status.list(household_id=household)

    def preferences_of(self, meter_id: str) -> dict[str, Any] | None:
        household = self._household(meter_id)
        if household is None or self.bridge is None:
            return None
        prefs = self.bridge.engine.preferences(household) or Preferences(household_id=household)
        return prefs.model_dump(mode="json")

    def set_preferences_of(self, meter_id: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        household = self._household(meter_id)
        if household is None or self.bridge is None:
            raise ValueError(f"no household has meter {meter_id}")
        prefs = Preferences(**{**values, "household_id": household})  # ValidationError: ValueError
        return [dict(c.to_dict()) for c in self.bridge.engine.set_preferences(prefs)]

    def committed(self) -> int:
        """Meter-intervals committed on-chain so far."""
        return len(self.service.committed()) if self.service else 0

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.service is not None:
            self.service.close()
        if self.bridge is not None:
            self.bridge.stop()
        if self.broker is not None:
            self.broker.stop()
