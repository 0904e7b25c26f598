"""Baselines against hand-computed values, their canonical encoding and hash, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import MisalignedInterval
from core.rules import div_round
from settlement.baselines import (
    Adjustment,
    BaselineMethod,
    ForecastParams,
    MeterBeforeAfterParams,
    SameHourParams,
    XOfYParams,
    baseline_forecast,
    baseline_hash,
    baseline_meter_before_after,
    baseline_same_hour_working_days,
    baseline_x_of_y,
    compute_baseline,
    decode_params,
    is_weekday,
)
from settlement.domain import MeterSeries
from settlement.errors import (
    InsufficientHistory,
    InvalidBaselineParams,
    InvalidMeterSeries,
    MissingMeterData,
    UnknownBaselineMethod,
)

DAY = 86_400
Q = 900


def at(day: int, hour: int, minute: int = 0) -> int:
    return day * DAY + hour * 3600 + minute * 60


# Day 10 (1970-01-11) is a Sunday; day 11 a Monday; day 8 a Friday.
def test_weekdays_follow_the_calendar() -> None:
    assert [is_weekday(d) for d in range(7)] == [True, True, False, False, True, True, True]
    assert not is_weekday(10) and is_weekday(11) and is_weekday(8)


def x_of_y_meter(event_actual: tuple[int, int] = (110, 120)) -> MeterSeries:
    values: dict[int, int] = {}
    window = {9: (100, 110), 8: (300, 310), 7: (200, 200), 6: (1000, 1000)}
    for day, (a, b) in window.items():
        values[at(day, 12)] = a
        values[at(day, 12, 15)] = b
        values[at(day, 11, 30)] = 100
        values[at(day, 11, 45)] = 100
    values[at(10, 11, 30)], values[at(10, 11, 45)] = event_actual
    return MeterSeries.from_mapping(values)


def xy(**kw: int) -> XOfYParams:
    base = dict(
        x_days=2, y_days=3, weekdays_only=0, adjustment=Adjustment.NONE,
        adjustment_intervals=2, adjustment_gap_intervals=0, lookback_days=5,
    )
    base.update(kw)
    return XOfYParams(**base)  # type: ignore[arg-type]


def test_x_of_y_averages_the_highest_x_of_the_last_y_days() -> None:
    # Last 3 days: 9 (210 Wh), 8 (610 Wh), 7 (400 Wh); the 2 highest: days 8 and 7.
    got = baseline_x_of_y(x_of_y_meter(), at(10, 12), 2, xy())
    assert got.tolist() == [250, 255]
    # 3 of 3: (100+300+200)/3 = 200, (110+310+200)/3 = 206.67 -> 207. Day 6 never counts.
    assert baseline_x_of_y(x_of_y_meter(), at(10, 12), 2, xy(x_days=3)).tolist() == [200, 207]


def test_x_of_y_multiplicative_day_of_adjustment_and_its_cap() -> None:
    # Adjustment window 11:30-12:00: baseline B = 200, actual A = 230 -> ratio 11500 bp.
    adj = xy(adjustment=Adjustment.MULTIPLICATIVE)
    assert baseline_x_of_y(x_of_y_meter(), at(10, 12), 2, adj).tolist() == [288, 293]
    # A = 300 -> ratio 15000 bp, capped at +20 %: 250 * 1.2, 255 * 1.2.
    capped = baseline_x_of_y(x_of_y_meter((150, 150)), at(10, 12), 2, adj)
    assert capped.tolist() == [300, 306]
    # A = 100 -> ratio 5000 bp, capped at -20 %.
    low = baseline_x_of_y(x_of_y_meter((50, 50)), at(10, 12), 2, adj)
    assert low.tolist() == [200, 204]


def test_x_of_y_additive_day_of_adjustment_and_its_cap() -> None:
    adj = xy(adjustment=Adjustment.ADDITIVE)
    # (A - B) / n = 30 / 2 = 15 Wh per interval; cap = 200 * 20 % / 2 = 20 Wh.
    assert baseline_x_of_y(x_of_y_meter(), at(10, 12), 2, adj).tolist() == [265, 270]
    assert baseline_x_of_y(x_of_y_meter((150, 150)), at(10, 12), 2, adj).tolist() == [270, 275]


def test_x_of_y_adjustment_needs_the_event_days_meter_data() -> None:
    values = {t: v for t, v in ((at(d, h, m), 100) for d in (7, 8, 9) for h, m in
                                ((11, 30), (11, 45), (12, 0), (12, 15)))}
    meter = MeterSeries.from_mapping(values)
    with pytest.raises(MissingMeterData) as err:
        baseline_x_of_y(meter, at(10, 12), 2, xy(adjustment=Adjustment.MULTIPLICATIVE), "alice")
    assert err.value.member == "alice" and err.value.interval_start_s == at(10, 11, 30)


def test_x_of_y_skips_weekends_excluded_and_incomplete_days() -> None:
    values = {at(d, 12): v for d, v in ((10, 999), (9, 999), (8, 40), (7, 30), (6, 20), (5, 10))}
    meter = MeterSeries.from_mapping(values)
    p = XOfYParams(x_days=1, y_days=1, adjustment=Adjustment.NONE, lookback_days=10)
    # Monday (day 11): Sunday and Saturday skipped, Friday (day 8) used.
    assert baseline_x_of_y(meter, at(11, 12), 1, p).tolist() == [40]
    excl = XOfYParams(x_days=1, y_days=1, adjustment=0, lookback_days=10, excluded_days=(8,))
    assert baseline_x_of_y(meter, at(11, 12), 1, excl).tolist() == [30]
    # Day 7 has no 12:15 value: for a 2-interval window it is not eligible.
    values[at(8, 12, 15)] = 0
    values[at(6, 12, 15)] = 0
    two = XOfYParams(x_days=2, y_days=2, adjustment=0, lookback_days=10)
    assert baseline_x_of_y(MeterSeries.from_mapping(values), at(11, 12), 2, two).tolist() == [
        30, 0
    ]


def test_x_of_y_with_too_little_history_says_how_much() -> None:
    with pytest.raises(InsufficientHistory) as err:
        baseline_x_of_y(x_of_y_meter(), at(10, 12), 2, xy(y_days=5, x_days=5), "bob")
    assert (err.value.needed, err.value.found, err.value.member) == (5, 4, "bob")


def test_same_hour_of_the_previous_working_days() -> None:
    values: dict[int, int] = {}
    for day, hour12, hour13 in ((8, (100, 100, 100, 200), 50), (7, (100, 100, 100, 100), 60),
                               (6, (0, 0, 0, 0), 0), (9, (9999,) * 4, 9999),
                               (10, (9999,) * 4, 9999)):
        for k in range(4):
            values[at(day, 12, 15 * k)] = hour12[k]
            values[at(day, 13, 15 * k)] = hour13
    meter = MeterSeries.from_mapping(values)
    p = SameHourParams(n_days=2, lookback_days=10)
    # Window Monday 12:45 and 13:00: hour 12 -> (500 + 400) / 8 = 112.5 -> 113; hour 13 -> 55.
    assert baseline_same_hour_working_days(meter, at(11, 12, 45), 2, p).tolist() == [113, 55]
    # A holiday on Friday: Thursday and Wednesday instead.
    holiday = SameHourParams(n_days=2, lookback_days=10, excluded_days=(8,))
    assert baseline_same_hour_working_days(meter, at(11, 12, 45), 2, holiday).tolist() == [50, 30]


def test_meter_before_meter_after_holds_the_level_before_the_event() -> None:
    meter = MeterSeries.from_mapping(
        {at(3, 11, 0): 100, at(3, 11, 15): 200, at(3, 11, 30): 300, at(3, 11, 45): 401,
         at(3, 12, 0): 7}
    )
    # (100 + 200 + 300 + 401) / 4 = 250.25 -> 250, for every event interval.
    got = baseline_meter_before_after(meter, at(3, 12), 3, MeterBeforeAfterParams())
    assert got.tolist() == [250, 250, 250]
    gap = MeterBeforeAfterParams(before_intervals=2, gap_intervals=1)
    # Intervals 11:15 and 11:30, one interval (11:45) left out.
    assert baseline_meter_before_after(meter, at(3, 12, 0), 1, gap).tolist() == [250]
    with pytest.raises(MissingMeterData):
        baseline_meter_before_after(meter, at(3, 11, 0), 1, MeterBeforeAfterParams())


def test_forecast_baseline_is_the_committed_forecast() -> None:
    forecast = MeterSeries(at(2, 17), np.array([500, 520, 510], dtype=np.int64))
    assert baseline_forecast(forecast, at(2, 17, 15), 2).tolist() == [520, 510]
    with pytest.raises(MissingMeterData) as err:
        baseline_forecast(forecast, at(2, 17, 30), 2, ForecastParams(), "carol")
    assert err.value.what == "forecast" and err.value.interval_start_s == at(2, 17, 45)


def test_compute_baseline_dispatches_on_the_encoded_method() -> None:
    meter = x_of_y_meter()
    direct = baseline_x_of_y(meter, at(10, 12), 2, xy())
    encoded = compute_baseline(1, xy().encode(), meter, at(10, 12), 2)
    assert encoded.tolist() == direct.tolist()
    with pytest.raises(UnknownBaselineMethod):
        compute_baseline(9, (), meter, at(10, 12), 2)
    with pytest.raises(MissingMeterData):
        compute_baseline(BaselineMethod.FORECAST, (), meter, at(10, 12), 2, forecast=None)
    with pytest.raises(InvalidBaselineParams):
        compute_baseline(BaselineMethod.X_OF_Y, SameHourParams(), meter, at(10, 12), 2)


def _manual_abi(method: int, values: tuple[int, ...]) -> bytes:
    """abi.encode(uint8, int256[]) written out by hand: head, offset, length, two's complement."""
    out = method.to_bytes(32, "big") + (64).to_bytes(32, "big") + len(values).to_bytes(32, "big")
    for v in values:
        out += (v % 2**256).to_bytes(32, "big")
    return out


def test_baseline_hash_is_keccak_of_the_abi_encoding() -> None:
    p = XOfYParams(utc_offset_s=-3600, excluded_days=(20_100, 20_090))
    assert p.encode() == (10, 10, 1, 2, 12, 4, 2000, 45, -3600, 2, 20_090, 20_100)
    assert baseline_hash(1, p) == keccak(_manual_abi(1, p.encode()))
    assert baseline_hash(1, p.encode()) == baseline_hash(1, p)
    assert len(baseline_hash(4, MeterBeforeAfterParams())) == 32
    # Any parameter change, or another method with the same numbers, changes the hash.
    assert baseline_hash(1, XOfYParams()) != baseline_hash(1, XOfYParams(x_days=5))
    assert baseline_hash(2, SameHourParams()) != baseline_hash(4, MeterBeforeAfterParams())
    with pytest.raises(InvalidBaselineParams):
        baseline_hash(2, XOfYParams())


@settings(max_examples=60, deadline=None)
@given(
    y=st.integers(1, 20),
    data=st.data(),
    adjustment=st.sampled_from(list(Adjustment)),
    offset=st.integers(-56, 56).map(lambda k: k * 900),
    days=st.lists(st.integers(0, 30_000), max_size=5),
)
def test_encoding_round_trips(
    y: int, data: st.DataObject, adjustment: Adjustment, offset: int, days: list[int]
) -> None:
    x = data.draw(st.integers(1, y))
    p = XOfYParams(x_days=x, y_days=y, adjustment=adjustment, lookback_days=max(y, 45),
                   utc_offset_s=offset, excluded_days=tuple(days))
    assert decode_params(1, p.encode()) == p
    s = SameHourParams(n_days=y, lookback_days=max(y, 30), excluded_days=tuple(days))
    assert decode_params(2, s.encode()) == s


def test_non_canonical_or_bad_parameters_are_refused() -> None:
    good = XOfYParams(excluded_days=(5, 3)).encode()
    assert good[-3:] == (2, 3, 5)
    with pytest.raises(InvalidBaselineParams):  # days not sorted: not canonical
        decode_params(1, (*good[:-2], 5, 3))
    with pytest.raises(InvalidBaselineParams):  # count does not match
        decode_params(1, (*good[:-3], 3, 3, 5))
    with pytest.raises(InvalidBaselineParams):  # too many values
        decode_params(4, (4, 0, 1))
    with pytest.raises(InvalidBaselineParams):
        XOfYParams(x_days=11, y_days=10)
    with pytest.raises(InvalidBaselineParams):
        XOfYParams(utc_offset_s=100)
    with pytest.raises(InvalidBaselineParams):
        XOfYParams(adjustment_cap_bp=10_001)
    with pytest.raises(InvalidBaselineParams):
        SameHourParams(n_days=0)
    with pytest.raises(InvalidBaselineParams):
        MeterBeforeAfterParams(before_intervals=True)
    with pytest.raises(UnknownBaselineMethod):
        decode_params(0, ())
    assert decode_params(3, ()) == ForecastParams()


def test_meter_series_refuses_floats_misalignment_and_bad_shapes() -> None:
    with pytest.raises(InvalidMeterSeries):
        MeterSeries(0, np.array([1.5, 2.0]))
    with pytest.raises(MisalignedInterval):
        MeterSeries(100, np.array([1], dtype=np.int64))
    with pytest.raises(InvalidMeterSeries):
        MeterSeries(0, np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(MisalignedInterval):
        MeterSeries.from_mapping({901: 3})


@given(st.integers(-10**9, 10**9), st.integers(1, 10**6))
def test_div_round_rounds_halves_up(a: int, b: int) -> None:
    from fractions import Fraction

    exact = Fraction(a, b)
    got = div_round(a, b)
    assert Fraction(got) - Fraction(1, 2) <= exact < Fraction(got) + Fraction(1, 2)
