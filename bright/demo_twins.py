"""The demo community's thermal twins: one per prosumer's home, calibrated, with its what-ifs,
stored for the API (``GET /twin``) and the web UI's "My home" page.

The demo homes replay the CityLearn 2022 homes, which carry no heating or cooling data, so each
is paired with one of the seven development homes of CityLearn 2023 (``analytics/data/
citylearn2023.py``: simulated homes with indoor temperature, setpoints and HVAC energy) in turn:
its twin is calibrated on that home's data (a fraction of a second each) and simulated as-is and
under the four standard what-ifs. A member's stored twin is kept across restarts and not
recomputed; ``bright twin`` makes one from a member's own data.

Usage (``bright up`` wires it beside the forecasts)::

    twins = DemoTwins(running, database_url).start()
    ...
    twins.stop()
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from chain.domain import Role

if TYPE_CHECKING:
    from bright.demo import RunningPlatform


def development_sources() -> list[str]:
    from analytics.data import citylearn2023 as cl

    return [f"citylearn:{s}/{h}" for s in cl.DEVELOP for h in cl.home_ids(s)]


class DemoTwins:
    """Builds and stores the demo homes' twins in a thread (module docstring)."""

    def __init__(self, running: RunningPlatform, database_url: str) -> None:
        self.chain_id = running.platform.deployment.chain_id
        self.homes = [
            (m.address, m.home.home_id)
            for m in running.members
            if m.role is Role.PROSUMER and m.home is not None
        ]
        self.database_url = database_url
        self.stored = 0
        self.errors = 0
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()

    @staticmethod
    def _log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def build(self) -> int:
        """Store a twin for every demo home that has none; returns how many were stored."""
        from analytics.thermal.service import build_record, calibrated_citylearn
        from analytics.thermal.store import get_twin_info, put_twin
        from streams.db import open_database

        engine = open_database(self.database_url)
        sources = development_sources()
        made: dict[str, Any] = {}
        try:
            for i, (account, home_id) in enumerate(self.homes):
                if self._stop.is_set():
                    break
                if get_twin_info(engine, self.chain_id, account) is not None:
                    continue
                key = sources[i % len(sources)]
                if key not in made:
                    source, _, twin_file = calibrated_citylearn(key)
                    made[key] = build_record(twin_file, source)
                record = made[key]
                label = f"citylearn-2022/{home_id} (thermal data: {key.split(':', 1)[1]})"
                put_twin(engine, self.chain_id, account, record.__class__(
                    label, record.params, record.fit, record.measured, record.scenarios,
                    record.created_s))
                self.stored += 1
        finally:
            engine.dispose()
        return self.stored

    def _run(self) -> None:
        try:
            stored = self.build()
            if stored:
                self._log(f"twins: {stored} demo homes' thermal twins calibrated and stored")
        except Exception as exc:  # the platform runs without twins
            self.errors += 1
            self._log(f"twins: not built: {exc!r}")

    def start(self) -> DemoTwins:
        self.thread = threading.Thread(target=self._run, name="demo-twins", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def store_model(account: str, chain_id: int, home_id: str, learned: Any) -> None:
    """``bright twin learn --account``: the trained model and its forecast into the read models
    (``BRIGHT_DATABASE_URL``)."""
    import time

    from analytics.thermal.learn import model_bytes
    from analytics.thermal.store import put_model
    from streams.db import open_database
    from streams.settings import StreamsSettings

    model = learned.result.model
    engine = open_database(StreamsSettings().database_url)
    try:
        put_model(
            engine,
            chain_id,
            account,
            home_id=home_id,
            model=model_bytes(model),
            gate=learned.result.gate.to_json(),
            meta=model.meta,
            forecast=learned.forecast or {},
            trained_s=int(time.time()),
        )
    finally:
        engine.dispose()
