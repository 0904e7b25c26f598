"""The demo community's forecasts on-chain: the forecast feed (oracles/forecast_service.py)
for every prosumer, signed by the demo oracle, on a short cadence.

Each member's meter replays its CityLearn home; the feed forecasts the member's net energy for
the coming intervals with the pooled homes models (trained on first use, about a minute or two
on this machine, then loaded from the model store) and commits them before the intervals start
by the chain's clock, which the demo market moves forward a whole interval per session.

It also stores a clustering of the demo homes when none is stored yet, so that the API's
``GET /clusters`` has something to serve.

Usage (``bright up`` wires it beside the market)::

    forecasts = DemoForecasts(running, stop).start()
    ...
    forecasts.stop()
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from chain.domain import Role
from chain.oracles import ForecastOracleClient
from oracles.forecast_service import FeedConfig, ForecastFeed

if TYPE_CHECKING:
    from bright.demo import RunningPlatform

DEMO_FEED = FeedConfig(lookahead_intervals=12, lead_s=1800.0, period_s=2.0)
"""Twelve intervals (3 h) ahead; intervals starting within two intervals are left alone: the
demo market moves the chain clock by an interval every few seconds."""


class DemoForecasts:
    """Runs the forecast feed for the demo community in a thread; ``stop()`` stops it."""

    def __init__(
        self,
        running: RunningPlatform,
        stop_event: threading.Event,
        config: FeedConfig | None = None,
        models_dir: Path | None = None,
        clusters_dir: Path | None = None,
    ) -> None:
        platform = running.platform
        oracle = next(m for m in running.members if m.role is Role.ORACLE)
        homes = {m.meter_id: m.home.home_id for m in running.members
                 if m.role is Role.PROSUMER and m.home is not None and m.meter_id}
        client = ForecastOracleClient(
            platform.w3,
            platform.deployment.address("ForecastOracle"),
            platform.artifacts["ForecastOracle"],
            platform.sender(oracle.account),
        )
        self.feed = ForecastFeed(client, oracle.account, homes, config or DEMO_FEED,
                                 models_dir=models_dir, log=self._log)
        self.clusters_dir = clusters_dir
        self._stop = stop_event
        self._own_stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.errors = 0

    @staticmethod
    def _log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def _on_error(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 3 or self.errors % 50 == 0:
            self._log(f"forecasts: {exc!r} (retrying; {self.errors} errors so far)")

    def _run(self) -> None:
        merged = threading.Event()

        def watch() -> None:
            while not (self._stop.wait(0.5) or self._own_stop.is_set()):
                pass
            merged.set()

        threading.Thread(target=watch, name="demo-forecasts-stop", daemon=True).start()
        if self._stop.is_set() or self._own_stop.is_set():  # stopped before it began
            return
        try:
            self._ensure_clusters()
        except Exception as exc:  # the forecasts do not depend on it
            self._on_error(exc)
        try:
            self.feed.ensure_models()  # first use trains; the stop event is checked after
        except Exception as exc:
            self._on_error(exc)
            return
        self.feed.run(merged, on_error=self._on_error)

    def _ensure_clusters(self) -> None:
        """Store a clustering of the demo homes when none is stored (GET /clusters serves it;
        ``bright analytics cluster`` replaces it)."""
        from analytics.clustering.store import cluster_and_save, load_summary

        if load_summary(self.clusters_dir) is None:
            summary = cluster_and_save(folder=self.clusters_dir)
            self._log(f"clusters: {summary['households']} homes in k={summary['k']} "
                               f"clusters stored for GET /clusters")

    def start(self) -> DemoForecasts:
        self.thread = threading.Thread(target=self._run, name="demo-forecasts", daemon=True)
        self.thread.start()
        return self

    def committed(self) -> int:
        """Member-interval forecasts this feed committed so far."""
        return sum(r.committed for r in self.feed.reports)

    def stop(self) -> None:
        self._own_stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
