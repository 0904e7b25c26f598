import numpy as np
import pandas as pd
import pytest

from analytics.forecasting.calibration import (
    adjustment,
    conformalize,
    conformity_scores,
    live_adjustments,
)
from analytics.forecasting.metrics import coverage


def intervals(days=90, width=0.5, seed=0):
    """Hourly day-ahead rows whose q10..q90 is too narrow: y ~ N(10, 2) but [10 - w, 10 + w]."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2017-01-01", tz="UTC")
    t = pd.date_range(start, periods=24 * days, freq="h", tz="UTC")
    y = 10 + 2 * rng.standard_normal(len(t))
    return pd.DataFrame({"interval_start": t, "origin": t.floor("D"), "h": 0, "y": y,
                         "q10": 10 - width, "q50": 10.0, "q90": 10 + width})


def test_too_narrow_intervals_are_widened_to_nominal_coverage():
    rows = intervals()
    start = rows["origin"].iloc[0] + pd.Timedelta(days=30)
    raw = rows[rows["origin"] >= start]
    assert coverage(raw["y"], raw["q10"], raw["q90"]) < 0.3
    cal = conformalize(rows, start, window_days=28, per_h=False)
    assert len(cal) == len(raw) and (cal["origin"] >= start).all()
    assert coverage(cal["y"], cal["q10"], cal["q90"]) == pytest.approx(0.8, abs=0.04)
    assert (cal["q50"] == 10.0).all()  # the point forecast is untouched
    assert (cal["q10_raw"] == 9.5).all()


def test_a_day_is_calibrated_only_from_forecasts_already_observed():
    rows = intervals()
    start = rows["origin"].iloc[0] + pd.Timedelta(days=40)
    before = conformalize(rows, start, per_h=False)
    changed = rows.copy()
    later = changed["interval_start"] >= start + pd.Timedelta(days=10)
    changed.loc[later, "y"] = 1000.0  # a wild future must not change earlier days
    after = conformalize(changed, start, per_h=False)
    first_days = before["origin"] < start + pd.Timedelta(days=10)
    assert np.allclose(before.loc[first_days, "q90"], after.loc[first_days, "q90"])
    assert not np.allclose(before["q90"], after["q90"])


def test_scores_leave_out_near_zero_medians_and_adjustments_never_shrink():
    rows = pd.DataFrame({"y": [0.0, 5.0, 1.0], "q10": [0.0, 4.0, 0.5],
                         "q50": [0.0, 5.0, 1.0], "q90": [0.0, 6.0, 1.5]})
    scores = conformity_scores(rows)
    assert np.isnan(scores[0]) and scores[1] == pytest.approx(-0.2)
    assert adjustment(np.full(100, -0.3)) == 0.0
    assert adjustment(np.full(10, 0.3)) == 0.0  # too few scores
    assert adjustment(np.full(100, 0.3)) == pytest.approx(0.3)


def test_live_adjustments_per_intraday_horizon():
    rows = intervals(days=40)
    wide = rows.copy()
    wide["h"] = 2
    wide["q10"], wide["q90"] = 4.0, 16.0
    both = pd.concat([rows.assign(h=1), wide], ignore_index=True)
    adjust = live_adjustments(both, window_days=28)
    assert set(adjust) == {1, 2}
    assert adjust[1] > 0.05 and adjust[2] == 0.0
