"""CityLearn's LSTM dynamics models, loaded as the peer of the thermal models.

The encoding is right when the LSTM's 1-step error on the data it was trained on is small:
``baeda_3dem`` (development set), whose LSTMs match their data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.data import citylearn2023 as cl
from analytics.errors import MissingColumnsError
from analytics.thermal.lstm_peer import LstmPeer, calendar, encoding_limits_check, one_step_errors

BAEDA = "baeda_3dem"
PHASE2 = "citylearn_challenge_2023_phase_2_online_evaluation_1"


@pytest.fixture(scope="module", autouse=True)
def _cached() -> None:
    for name in (BAEDA, PHASE2):
        cl.dataset_dir(name, fetch=False)  # setup fetched them; tests never download


@pytest.mark.parametrize("home", ["Building_1", "Building_2", "Building_3", "Building_4"])
def test_one_step_error_on_its_own_building_is_small(home: str) -> None:
    errors = one_step_errors(BAEDA, home)
    assert errors["lstm_mae_c"] < 0.15
    assert errors["lstm_mae_c"] < 0.75 * errors["persistence_mae_c"]


@pytest.mark.parametrize("name", [BAEDA, PHASE2])
def test_calendar_matches_the_csv_and_the_schema_limits(name: str) -> None:
    home = "Building_1"
    frame = cl.load_home(name, home, fetch=False)
    raw = pd.read_csv(cl.dataset_dir(name, fetch=False) / f"{home}.csv")
    cal = calendar(frame.index, cl.DEVELOP[name].utc_offset_h)
    np.testing.assert_array_equal(cal["hour"], raw["Hour"].to_numpy())
    np.testing.assert_array_equal(cal["day_type"], raw["Day Type"].to_numpy())
    np.testing.assert_array_equal(cal["month"], raw["Month"].to_numpy())
    peer = LstmPeer.load(name, home)
    outside = encoding_limits_check(peer, frame)
    assert not [n for n in outside if n.endswith(("_sin", "_cos"))], outside


def test_multi_step_from_one_origin_matches_the_batch() -> None:
    frame = cl.load_home(BAEDA, "Building_4", fetch=False)
    peer = LstmPeer.load(BAEDA, "Building_4")
    origins = np.array([100, 500, 2000])
    batch = peer.predict_origins(frame, origins, 24)
    for row, origin in zip(batch, origins, strict=True):
        single = peer.predict_heat_given(frame.iloc[: origin + 1],
                                         frame.iloc[origin + 1: origin + 25])
        np.testing.assert_allclose(single, row, atol=1e-6)
    # the first step of a multi-step prediction is the 1-step prediction
    one = peer.one_step(frame)
    np.testing.assert_allclose(batch[:, 0], one[origins - peer.lookback + 1], atol=1e-6)
    assert np.abs(batch - np.stack([frame["indoor_c"].to_numpy()[o + 1: o + 25]
                                    for o in origins])).mean() < 1.0


def test_missing_input_column_is_named() -> None:
    frame = cl.load_home(BAEDA, "Building_1", fetch=False)
    peer = LstmPeer.load(BAEDA, "Building_1")
    with pytest.raises(MissingColumnsError, match="cooling_kwh"):
        peer.predict_origins(frame.drop(columns=["cooling_kwh"]), np.array([50]), 24)
