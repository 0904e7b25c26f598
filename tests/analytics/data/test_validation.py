import numpy as np
import pandas as pd
import pytest

from analytics.data.validation import fill_gaps, resample_energy, validate_frame
from analytics.errors import (
    DuplicateTimestampError,
    GapError,
    IndexTypeError,
    MissingColumnsError,
    NegativeValueError,
    ResolutionError,
    UnknownMethodError,
)
from core.errors import DataError


def hourly(n: int = 48, start: str = "2017-01-01") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="h", tz="UTC")
    rng = np.random.default_rng(1)
    return pd.DataFrame({"load_kwh": rng.uniform(0.2, 2.0, n), "pv_kwh": rng.uniform(0, 1, n)},
                        index=index)


def check(frame: pd.DataFrame, **kw) -> pd.DataFrame:
    return validate_frame(frame, name="home 7", columns=["load_kwh", "pv_kwh"],
                          resolution_s=3600, non_negative=["load_kwh", "pv_kwh"], **kw)


def test_a_clean_frame_passes_unchanged():
    frame = hourly()
    assert check(frame) is frame


def test_missing_column_names_the_frame_and_column():
    with pytest.raises(MissingColumnsError, match=r"home 7: missing column\(s\) \['pv_kwh'\]"):
        check(hourly().drop(columns="pv_kwh"))


def test_naive_index_is_rejected():
    frame = hourly()
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(IndexTypeError, match="UTC"):
        check(frame)


def test_duplicate_timestamps_are_listed():
    frame = hourly()
    frame = pd.concat([frame, frame.iloc[[5]]]).sort_index()
    with pytest.raises(DuplicateTimestampError, match="2017-01-01 05:00"):
        check(frame)


def test_wrong_resolution_says_expected_and_found():
    frame = hourly(n=8)
    frame.index = pd.date_range("2017-01-01", periods=8, freq="15min", tz="UTC")
    with pytest.raises(ResolutionError, match="must be 3600 s, found a step of 900 s"):
        check(frame)


def test_missing_timestamps_and_nan_are_gaps():
    frame = hourly().drop(index=pd.Timestamp("2017-01-01 10:00", tz="UTC"))
    with pytest.raises(GapError, match=r"1 missing timestamp.*2017-01-01 10:00"):
        check(frame)
    frame = hourly()
    frame.iloc[3, 0] = np.nan
    with pytest.raises(GapError, match="'load_kwh' has 1 missing value"):
        check(frame)
    assert check(frame, allow_gaps=True) is frame


def test_negative_load_is_reported_with_where_and_min():
    frame = hourly()
    frame.iloc[7, 0] = -0.5
    with pytest.raises(NegativeValueError, match=r"'load_kwh'.*min -0\.5.*2017-01-01 07:00") as e:
        check(frame)
    assert isinstance(e.value, DataError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize("method", ["linear", "ffill", "same_hour_previous_day"])
def test_fill_gaps_fills_only_the_gaps_and_reports_them(method):
    frame = hourly(n=72)
    hole = pd.Timestamp("2017-01-02 10:00", tz="UTC")
    frame.loc[pd.Timestamp("2017-01-02 12:00", tz="UTC"), "pv_kwh"] = np.nan
    filled, report = fill_gaps(frame.drop(index=hole), name="home 7", resolution_s=3600,
                               method=method)
    check(filled)  # now valid
    assert report.inserted_timestamps == [hole]
    assert report.filled["load_kwh"] == [hole]
    assert len(report.filled["pv_kwh"]) == 2
    assert report.n_filled == 3 and method in report.summary()
    untouched = frame.index.difference([hole, pd.Timestamp("2017-01-02 12:00", tz="UTC")])
    pd.testing.assert_frame_equal(filled.loc[untouched], frame.loc[untouched], check_freq=False)
    if method == "same_hour_previous_day":
        assert filled.loc[hole, "load_kwh"] == frame.loc[hole - pd.Timedelta(days=1), "load_kwh"]
    if method == "linear":
        before, after = (frame.loc[hole + pd.Timedelta(hours=d), "load_kwh"] for d in (-1, 1))
        assert filled.loc[hole, "load_kwh"] == pytest.approx((before + after) / 2)


def test_unknown_fill_method_is_refused():
    with pytest.raises(UnknownMethodError, match="'mean'"):
        fill_gaps(hourly(), name="x", resolution_s=3600, method="mean")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["uniform", "linear"])
def test_resampling_to_900_s_conserves_each_hours_energy(method):
    frame = hourly(n=24)
    frame.iloc[5] = 0.0
    fine = resample_energy(frame, method=method)
    assert len(fine) == 96 and (np.diff(fine.index.asi8) > 0).all()
    validate_frame(fine, name="fine", columns=["load_kwh"], resolution_s=900,
                   non_negative=["load_kwh", "pv_kwh"])
    back = fine.groupby(fine.index.floor("h")).sum()
    np.testing.assert_allclose(back.to_numpy(), frame.to_numpy(), rtol=1e-12, atol=1e-12)
    assert (fine.iloc[20:24] == 0).all().all()
    quarters = fine["load_kwh"].to_numpy().reshape(24, 4)
    if method == "uniform":
        np.testing.assert_allclose(quarters, np.repeat(frame[["load_kwh"]].to_numpy() / 4, 4, 1))
    else:
        assert not np.allclose(quarters[:, 0], quarters[:, 3])
