import numpy as np
import pytest

from analytics.forecasting.metrics import coverage, mape, pinball, wape


def test_wape_is_total_absolute_error_over_total_actual():
    assert wape([1, 2, 3, 4], [2, 2, 3, 2]) == pytest.approx(3 / 10)
    assert np.isnan(wape([0, 0], [1, 1]))


def test_mape_leaves_out_near_zero_actuals():
    # mean |y| = 2.5; threshold 0.25 leaves out the 0.01 point
    assert mape([0.01, 4, 5, 1], [1.0, 2, 5, 1]) == pytest.approx((0.5 + 0 + 0) / 3)


def test_pinball_weights_under_and_over_forecasts_by_the_quantile():
    assert pinball([10], [8], 0.9) == pytest.approx(0.9 * 2)
    assert pinball([10], [12], 0.9) == pytest.approx(0.1 * 2)
    assert pinball([1, 3], [2, 2], 0.5) == pytest.approx(0.5)


def test_coverage_counts_values_inside_the_interval():
    assert coverage([1, 2, 3, 4], [0, 2.5, 2, 5], [1, 3, 4, 6]) == pytest.approx(0.5)
