"""Fixtures of the analytics tests: real CityLearn data (fetched by setup, read from the cache)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.data import citylearn
from analytics.forecasting.service import CommunityData, load_community_data


@pytest.fixture(scope="session")
def community() -> CommunityData:
    """All 17 real homes and the weather, one year hourly."""
    citylearn.dataset_dir(fetch=False)  # setup fetched it; tests never download
    return load_community_data()


@pytest.fixture(scope="session")
def weather(community: CommunityData) -> pd.DataFrame:
    return community.weather
