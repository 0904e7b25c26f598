"""The forecast feed on a real anvil: the demo platform (its own chain), the feed trained on a
slice of the real homes, forecasts committed and accepted by the ForecastOracle, projected by
the real indexer into the read models and served by the API to their member."""

from __future__ import annotations

import threading
import time

import pytest

from analytics.forecasting.domain import Horizon
from analytics.forecasting.engine import ForecastConfig
from oracles.forecast_service import FeedConfig
from oracles.simulator import _hour_row

SMALL = FeedConfig(
    lookahead_intervals=6,
    lead_s=60.0,
    period_s=0.5,
    train_days=30,
    model=ForecastConfig(horizon=Horizon.INTRADAY, max_intraday_h=4, per_horizon_models=False,
                         n_estimators=150, learning_rate=0.1,
                         calibration_window_days=0),
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from bright.demo import bring_up
    from chain.anvil import free_port
    from core.settings import ChainSettings

    settings = ChainSettings(state_dir=tmp_path_factory.mktemp("feed-state"),
                             chain_port=free_port())
    running = bring_up(settings, quiet=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("feed-models")


def _feed(demo, models_dir, homes=None):
    from bright.demo_forecasts import DemoForecasts

    forecasts = DemoForecasts(demo, threading.Event(), SMALL, models_dir=models_dir,
                              clusters_dir=models_dir / "clusters")
    if homes is not None:
        forecasts.feed.members = {m: h for m, h in forecasts.feed.members.items() if h in homes}
    return forecasts


def test_demo_time_maps_to_the_rows_the_simulator_replays(demo, models_dir):
    feed = _feed(demo, models_dir).feed
    first = feed.data.weather.index[0].timestamp()
    for t in (first, first + 3600 * 5 + 899, first + 3600 * 8760 * 3 + 7200, time.time()):
        assert feed.data_row(t) == _hour_row(t, first, 0)


def test_feed_commits_forecasts_the_oracle_accepts_and_a_restart_adds_nothing(
    demo, models_dir
):
    feed = _feed(demo, models_dir, homes={"Building_1", "Building_4", "Building_5"}).feed
    client = feed.client
    report = feed.tick()
    rows = feed.forecast_rows(feed.clock())
    assert report.committed >= 3 * 4 and report.batches >= 4
    assert {r.model_version for r in rows} == {feed.model_version}
    assert feed.model_version.startswith("net-intraday-c1p1")
    now = feed.clock()
    for r in rows:
        assert r.interval_start_s > now and r.interval_start_s % 900 == 0
        assert r.q10_wh <= r.q50_wh <= r.q90_wh and r.q10_wh < r.q90_wh
        assert client.is_committed(r.participant_id, r.interval_start_s)
    # a home with PV at midday exports: some medians are negative; loads are a few hundred Wh
    assert all(-5000 < r.q50_wh < 5000 for r in rows)

    restarted = _feed(demo, models_dir, homes={"Building_1", "Building_4", "Building_5"}).feed
    assert restarted.ensure_models() == feed.ensure_models()  # loaded, not retrained
    again = restarted.tick()
    assert again.committed == 0 and again.batches == 0 and again.unchanged >= 3 * 4


def test_forecast_medians_follow_the_replayed_homes(demo, models_dir):
    """The median net forecast tracks the replayed data's net energy better than the seasonal
    naive forecast (the same hour the day before) does: the two are aligned in time.

    Judged over 28 forecast origins spread over two weeks of the data the models were trained
    on (every 11 h, so every hour of the day is met), not at the wall clock's moment: one
    1.5-hour window is too small a sample to rank two forecasters, and which hour of the day
    the test ran at decided the result."""
    import numpy as np

    feed = _feed(demo, models_dir).feed
    first = feed.data.weather.index[0].timestamp()
    start = first + 3600 * (8760 - 24 * 20)  # inside the last train_days of the year
    errors, naive, intervals = [], [], 0
    load, pv = feed.data.load_kwh, feed.data.pv_kwh
    for k in range(28):
        now = start + k * 11 * 3600 + 300
        rows = feed.forecast_rows(now)
        starts = {r.interval_start_s for r in rows}
        assert rows and len(rows) == 17 * len(starts)
        intervals += len(starts)
        for r in rows:
            row = feed.data_row(r.interval_start_s)
            home = feed.members[r.participant_id]
            net = (load[home] - pv[home]).to_numpy() * 250
            errors.append(abs(r.q50_wh - net[row]))
            naive.append(abs(net[row - 24] - net[row]))
    assert intervals >= 28 * 4
    assert np.sum(errors) < 0.9 * np.sum(naive), (np.sum(errors), np.sum(naive))


def test_demo_forecasts_reach_the_read_model_and_the_api(demo, models_dir, tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.api_helpers import bearer, index_into, login, settings_for

    forecasts = _feed(demo, models_dir).start()
    try:
        deadline = time.monotonic() + 120
        while forecasts.committed() == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        forecasts.stop()
    assert forecasts.committed() > 0, f"nothing committed ({forecasts.errors} errors)"
    # it also stored a clustering of the demo homes for GET /clusters
    assert (models_dir / "clusters" / "latest.json").exists()

    class Demo:  # what index_into needs
        running = demo
        members = demo.members

    url = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    index_into(Demo, url)
    dep = demo.platform.deployment
    home1 = next(m for m in demo.members if m.name == "home-01")
    app = create_app(settings_for(url, dep.chain_id, dep.address("FlexMarket")))
    with TestClient(app) as api:
        got = api.get("/forecasts", headers=bearer(login(api, home1.account)))
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert data and all(r["participant_id"] == home1.meter_id for r in data)
    # The projection (streams/projections.py) stores the bytes32 model version as hex today;
    # either form must name the feed's model.
    assert {r["model_version"] for r in data} == {forecasts.feed.model_version}
    assert all(r["q10_wh"] <= r["q50_wh"] <= r["q90_wh"] for r in data)


def test_feed_inputs_are_checked():
    from oracles.forecast_service import ForecastFeed

    with pytest.raises(ValueError, match="lookahead_intervals"):
        FeedConfig(lookahead_intervals=13)
    with pytest.raises(ValueError, match="4 h ahead"):
        FeedConfig(model=ForecastConfig(horizon=Horizon.DAY_AHEAD))
    with pytest.raises(ValueError, match="at least one member"):
        ForecastFeed(None, None, {})  # type: ignore[arg-type]
    feed = ForecastFeed(None, None, {"m-1": "Building_99"}, clock=time.time)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Building_99"):
        feed.forecast_rows(time.time())
