"""The leave-one-week-out predictability bound: what it leaves out, and that it is a bound."""

import pandas as pd

from analytics.forecasting.backtest import backtest, held_out_start
from analytics.forecasting.bound import _rows, leave_one_week_out, week_splits
from analytics.forecasting.domain import Horizon, Target
from analytics.forecasting.engine import ForecastConfig

SLICE_H = 24 * 200


def test_each_test_row_is_forecast_once_by_a_model_that_never_saw_its_week(community):
    homes = community.load_kwh.iloc[:SLICE_H]
    test_start = held_out_start(homes.index)
    rows, extra = _rows(homes, community.weather, Horizon.DAY_AHEAD, None, test_start)
    assert "lag_336" in extra and len(extra) == 2 + homes.shape[1]  # more than production
    splits = week_splits(rows, test_start)
    tested = sum(test.astype(int) for _, test in splits)
    assert (tested[rows["origin"] >= test_start] == 1).all()
    assert (tested[rows["origin"] < test_start] == 0).all()
    for i, (train, test) in enumerate(splits):
        week = rows.loc[test, "origin"]
        lo, hi = week.min() - pd.Timedelta(days=1), week.max() + pd.Timedelta(days=1)
        seen = rows.loc[train]
        assert not ((seen["interval_start"] >= lo) & (seen["origin"] <= hi)).any()
        if i < len(splits) - 1:  # it does see the weeks after: that is the bound
            assert (seen["origin"] > hi).any()


def test_the_bound_forecasts_better_than_the_honest_backtest(community):
    homes = community.load_kwh.iloc[:SLICE_H]
    cfg = ForecastConfig(target=Target.CONSUMPTION, horizon=Horizon.INTRADAY, max_intraday_h=1)
    honest = backtest(homes.sum(axis=1).to_frame("community"), community.weather, cfg)
    bound = leave_one_week_out(homes, community.weather, Horizon.INTRADAY, honest.test_start,
                               h=1)
    assert bound["n"] == honest.scores["n"]
    assert bound["wape"] == min(bound["wape_production_inputs"], bound["wape_more_inputs"])
    assert bound["wape"] < honest.scores["wape"]
