"""The forecast feed: members' next-interval forecasts, committed on-chain before they start.

Every ``period_s`` the feed looks at the clock (by default the chain's latest block time: the
ForecastOracle refuses an interval that has started by *its* clock), forecasts the intervals
that start between ``lead_s`` and ``lookahead_intervals`` x 900 s from now for each member,
and commits them with :func:`oracles.forecast.commit_forecasts`, signed by the oracle key.

What is committed (the ForecastOracle's row, one per member and interval): the member's *net*
energy in the interval, Wh, import positive, as q10/q50/q90. It comes from two pooled homes
models of :mod:`analytics.forecasting` (consumption and PV, intraday, every home scaled by its
mean): the median is ``load_q50 - pv_q50``; the lower and upper distances combine the two
models' as independent errors (``sqrt((load_q50 - load_q10)^2 + (pv_q90 - pv_q50)^2)`` below,
likewise above). The model version on-chain is ``net-intraday-c<N>p<M>``: the store versions
of the two models.

Demo time and data: a member's meter replays one CityLearn 2022 home, and the simulator maps
an instant ``t`` to the data row ``((t - first data hour) // 3600) mod 8760``
(``oracles.simulator._hour_row``); the feed forecasts with that same mapping, using the data
rows before the origin (the start of the current hour) as the member's history and the
data set's weather forecasts, so forecasts and simulated meter data line up. The year wraps
around (history before the first row is the end of the year). Honest note: the demo models are
fitted on the whole year that the demo replays, so demo forecasts are in-sample; the accuracy
figures are those of the out-of-sample backtest (``bright bench forecast``).

Restart safety: nothing is kept locally but the models (in the model store, trained on first
use). Which member-intervals are already on-chain is read from the contract, rows already
committed are left alone, nonces are random, and a started interval is skipped, so a restart
(or two feeds) never commits twice.

Reorgs: a commit that a reorg drops while the feed waits for its receipt is sent again by the
sender (:mod:`chain.tx`; refused if its rows were committed meanwhile: the next tick finds them
on-chain); one dropped after its receipt is found missing by the next tick and committed
again, for the intervals that have not started. The participants' enrolment indexes the
client caches are read again after a reorg (an enrolment may have left the chain with it).
A wait for a receipt ends as soon as the feed is stopped.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from eth_account.signers.local import LocalAccount

from analytics.errors import ModelNotFoundError
from analytics.forecasting.domain import Horizon, Target
from analytics.forecasting.engine import ForecastConfig, GbmForecaster
from analytics.forecasting.service import CommunityData, load_community_data, model_name
from analytics.forecasting.store import SavedModel, load_model, save_model
from chain.oracles import ForecastOracleClient
from chain.tx import ChainWatch, TransactionInterrupted, stoppable
from core.oracle_codec import ForecastRow
from core.units import INTERVAL_S
from oracles.forecast import ForecastCommitReport, commit_forecasts

YEAR_H = 8760
HISTORY_H = 24 * 15
"""Hours of history handed to the models (their lags reach back 8 days)."""
WH_PER_KW_INTERVAL = INTERVAL_S / 3.6
"""Wh in a 900 s interval per kW of mean power (250)."""


@dataclass
class FeedConfig:
    """How far ahead and how the feed's models are trained."""

    lookahead_intervals: int = 8
    """Forecast the intervals starting within this many intervals of now (at most 12)."""
    lead_s: float = 30.0
    """Skip intervals starting sooner than this: the commit must be mined before they start."""
    period_s: float = 60.0
    """Seconds between ticks of :meth:`ForecastFeed.run`."""
    train_days: int | None = None
    """Train on the last this many days of the year (None: all of it)."""
    model: ForecastConfig = field(default_factory=lambda: ForecastConfig(
        horizon=Horizon.INTRADAY, max_intraday_h=4, per_horizon_models=False))
    """Config of the two models (target is set per model)."""

    def __post_init__(self) -> None:
        if not 1 <= self.lookahead_intervals <= 12:
            raise ValueError(f"lookahead_intervals must be 1..12, got {self.lookahead_intervals}")
        if self.lead_s < 0 or self.period_s <= 0:
            raise ValueError("lead_s must be >= 0 and period_s > 0")
        if self.model.horizon is not Horizon.INTRADAY or self.model.max_intraday_h < 4:
            raise ValueError("the feed needs intraday models reaching 4 h ahead")


def chain_clock(client: ForecastOracleClient) -> Callable[[], float]:
    """The chain's time as the next block will see it: what the ForecastOracle checks
    intervals against. The latest block's timestamp lags when no block was mined for a while
    (anvil mines on demand), so it is at least wall time plus the largest lead of the chain
    over the wall clock seen so far (the demo moves the chain clock forward)."""
    lead = 0.0

    def now() -> float:
        nonlocal lead
        block_s = float(client.w3.eth.get_block("latest")["timestamp"])
        wall = time.time()
        lead = max(lead, block_s - wall)
        return max(block_s, wall + lead)

    return now


class ForecastFeed:
    """Forecasts ``members`` (meter id -> CityLearn building) and commits them; module docs."""

    def __init__(
        self,
        client: ForecastOracleClient,
        oracle: LocalAccount,
        members: Mapping[str, str],
        config: FeedConfig | None = None,
        *,
        models_dir: Path | None = None,
        clock: Callable[[], float] | None = None,
        data: CommunityData | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not members:
            raise ValueError("the forecast feed needs at least one member")
        self.client = client
        self.oracle = oracle
        self.members = dict(members)
        self.config = config or FeedConfig()
        self.models_dir = models_dir
        self.clock = clock or chain_clock(client)
        self._data = data
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._models: dict[Target, SavedModel] = {}
        self.reports: list[ForecastCommitReport] = []
        self._chain: ChainWatch | None = None

    # -- data and models ---------------------------------------------------------------
    @property
    def data(self) -> CommunityData:
        if self._data is None:
            self._data = load_community_data()
        unknown = sorted(set(self.members.values()) - set(self._data.load_kwh.columns))
        if unknown:
            raise ValueError(f"members replay homes the data does not have: {unknown}")
        return self._data

    def _series(self, target: Target) -> pd.DataFrame:
        return self.data.series(target, "homes")

    def ensure_models(self) -> dict[str, str]:
        """Load the pooled homes models, training (and saving) those missing; their versions."""
        for target in (Target.CONSUMPTION, Target.PV):
            if target in self._models:
                continue
            name = model_name(target, Horizon.INTRADAY, "homes")
            try:
                self._models[target] = load_model(name, models_dir=self.models_dir)
            except ModelNotFoundError:
                cfg = self.config.model.model_copy(update={"target": target})
                y = self._series(target)
                if self.config.train_days is not None:
                    y = y.iloc[-24 * self.config.train_days:]
                self.log(f"forecast feed: training {name} on {y.shape[1]} homes x {len(y)} h")
                engine = GbmForecaster(cfg).fit(y, self.data.weather)
                version = save_model(engine, name, {"trained_by": "forecast feed"},
                                     self.models_dir)
                self._models[target] = load_model(name, models_dir=self.models_dir)
                self.log(f"forecast feed: saved {version} in {engine.fit_seconds_:.1f} s")
        return {str(t): m.version for t, m in self._models.items()}

    @property
    def model_version(self) -> str:
        c = self._models[Target.CONSUMPTION].version.rsplit("-v", 1)[-1]
        p = self._models[Target.PV].version.rsplit("-v", 1)[-1]
        return f"net-intraday-c{c}p{p}"

    # -- time mapping --------------------------------------------------------------------
    def data_row(self, time_s: float) -> int:
        """Row of the data year that the simulator replays at ``time_s``."""
        first = self.data.weather.index[0].timestamp()
        return int((time_s - first) // 3600) % YEAR_H

    def _window(self, frame: pd.DataFrame, row: int, before: int, after: int) -> pd.DataFrame:
        """Rows ``row - before`` .. ``row + after - 1`` of ``frame``, the year wrapping around,
        indexed by continuous data time around ``frame.index[row]``."""
        positions = np.arange(row - before, row + after) % len(frame)
        index = frame.index[row] + pd.to_timedelta(np.arange(-before, after), unit="h")
        return frame.iloc[positions].set_axis(index)

    # -- forecasts -----------------------------------------------------------------------
    def forecast_rows(self, now_s: float) -> list[ForecastRow]:
        """Rows for the intervals starting in ``(now + lead, now + lookahead]``."""
        self.ensure_models()
        cfg = self.config
        first = math.floor((now_s + cfg.lead_s) / INTERVAL_S) * INTERVAL_S + INTERVAL_S
        last = math.floor(now_s / INTERVAL_S) * INTERVAL_S + cfg.lookahead_intervals * INTERVAL_S
        if last < first:
            return []
        origin_s = math.floor(now_s / 3600) * 3600  # data before the current hour is known
        row = self.data_row(origin_s)
        steps = 4
        weather = self._window(self.data.weather, row, HISTORY_H, steps)
        origin = weather.index[HISTORY_H]
        quantiles: dict[Target, pd.DataFrame] = {}
        for target, saved in self._models.items():
            y = self._series(target)
            homes = [h for h in dict.fromkeys(self.members.values()) if h in y.columns]
            if not homes:
                continue
            hist = self._window(y[homes], row, HISTORY_H, 0)
            fc = saved.engine.predict(hist, weather, origin, saved.version, homes)
            quantiles[target] = fc.set_index(["participant_id", "interval_start_s"])
        offset = origin_s - int(origin.timestamp())  # data time -> demo time
        out = []
        load = quantiles[Target.CONSUMPTION]
        pv = quantiles.get(Target.PV)
        for meter, home in sorted(self.members.items()):
            for start in range(first, last + 1, INTERVAL_S):
                key = (home, start - offset)
                lq = load.loc[key, ["q10_kw", "q50_kw", "q90_kw"]].to_numpy(dtype=float)
                pq = (pv.loc[key, ["q10_kw", "q50_kw", "q90_kw"]].to_numpy(dtype=float)
                      if pv is not None and key in pv.index else np.zeros(3))
                median = lq[1] - pq[1]
                below = math.hypot(lq[1] - lq[0], pq[2] - pq[1])
                above = math.hypot(lq[2] - lq[1], pq[1] - pq[0])
                out.append(ForecastRow(
                    participant_id=meter,
                    interval_start_s=start,
                    q10_wh=round((median - below) * WH_PER_KW_INTERVAL),
                    q50_wh=round(median * WH_PER_KW_INTERVAL),
                    q90_wh=round((median + above) * WH_PER_KW_INTERVAL),
                    model_version=self.model_version,
                ))
        return out

    def _check_reorg(self) -> ChainWatch:
        """The watch over the blocks this feed relied on; after a reorg the client is made
        anew, so that it reads the enrolments again."""
        if self._chain is None:
            self._chain = ChainWatch(self.client.w3).follow(self.client.sender)
        elif self._chain.reorged():
            c = self.client
            self.client = ForecastOracleClient(c.w3, c.address, c.artifact, c.sender)
            self.log("forecast feed: a reorg took blocks it relied on; reading the chain again")
        return self._chain

    def tick(self) -> ForecastCommitReport:
        """Forecast the coming intervals and commit what is not on-chain yet."""
        chain = self._check_reorg()
        try:
            now = self.clock()
            rows = self.forecast_rows(now)
            report = commit_forecasts(self.client, self.oracle, rows, now_s=self.clock())
        finally:
            chain.mark()
        self.reports.append(report)
        return report

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
            ) -> None:
        """Tick every ``period_s`` until ``stop`` is set (a wait for a receipt ends then too);
        an error is reported, not fatal."""
        with stoppable(stop):
            while not stop.is_set():
                try:
                    report = self.tick()
                    if report.committed:
                        self.log(f"forecast feed: {report.committed} forecasts committed in "
                                 f"{report.batches} batches")
                except TransactionInterrupted:
                    break
                except Exception as exc:  # keep feeding: the next tick retries
                    (on_error or (lambda e: self.log(f"forecast feed error: {e!r}")))(exc)
                stop.wait(self.config.period_s)
