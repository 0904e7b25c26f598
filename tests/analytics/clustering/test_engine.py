import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analytics.clustering.engine import ClusterConfig, HouseholdClusterer, recluster_with
from analytics.clustering.features import PROFILE_COLUMNS, SCALAR_COLUMNS, household_features
from analytics.data.synthetic import synthetic_community
from analytics.errors import InsufficientDataError, NegativeValueError, NotFittedError


@pytest.fixture(scope="module")
def features(community):
    synth = synthetic_community(40, seed=1, fetch=False)
    return household_features(synth.load_kwh, synth.pv_kwh, community.weather["temp_c"],
                              community.battery_kwh, community.battery_kw)


def planted(community, n_per_group=8, seed=0):
    """Two groups of real-data-based homes with different daily shapes (morning vs evening)."""
    rng = np.random.default_rng(seed)
    base = community.load_kwh["Building_1"].to_numpy()
    hour = community.load_kwh.index.tz_convert("Etc/GMT+8").hour.to_numpy()
    cols, truth = {}, []
    for group, peak in enumerate((7, 19)):
        bump = 1 + 2.0 * np.exp(-0.5 * ((hour - peak) / 1.5) ** 2)
        for i in range(n_per_group):
            noise = np.exp(rng.normal(0, 0.2, len(base)))
            cols[f"g{group}_{i}"] = base * bump * noise * rng.uniform(0.7, 1.3)
            truth.append(group)
    load = pd.DataFrame(cols, index=community.load_kwh.index)
    return load, np.array(truth)


def test_features_are_normalised_shapes_plus_documented_scalars(features, community):
    assert list(features.columns) == [*PROFILE_COLUMNS, *SCALAR_COLUMNS]
    np.testing.assert_allclose(features[list(PROFILE_COLUMNS)].mean(axis=1), 1.0)
    real = features.loc["Building_1"]
    daily = community.load_kwh["Building_1"].sum() / 365
    assert real["level_log_kwh_day"] == pytest.approx(np.log(daily), rel=0.01)
    assert 0 < real["pv_self_consumption"] <= 1
    no_pv = features.loc["Building_15"]  # has almost no PV
    assert no_pv["pv_self_consumption"] >= 0


def test_planted_groups_are_recovered_with_k_2(community):
    load, truth = planted(community)
    feats = household_features(load, load * 0, community.weather["temp_c"])
    result = HouseholdClusterer(ClusterConfig(seed=0)).fit_result(feats)
    assert result.k == 2
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.silhouette > 0.25
    morning = result.labels[0]
    assert np.argmax(result.centroid_profiles[morning]) in (6, 7, 8)


def test_clustering_is_deterministic_with_a_seed(features):
    a = HouseholdClusterer(ClusterConfig(seed=5)).fit_result(features)
    b = HouseholdClusterer(ClusterConfig(seed=5)).fit_result(features)
    assert a.k == b.k and (a.labels == b.labels).all() and a.silhouette == b.silhouette
    assert sum(a.sizes.values()) == 40 and set(a.k_scores) <= set(range(2, 9))
    assert abs(a.silhouette - max(a.k_scores.values())) < 1e-4  # the best k was chosen


def test_adding_a_household_reclusters_and_predict_assigns_it(features):
    engine = HouseholdClusterer(ClusterConfig(seed=0))
    before = engine.fit_result(features.iloc[:-1])
    newcomer = features.iloc[[-1]]
    label = engine.predict(newcomer)
    assert label.shape == (1,) and 0 <= label[0] < before.k
    result = recluster_with(features.iloc[:-1], newcomer, ClusterConfig(seed=0))
    assert len(result.household_ids) == 40 and newcomer.index[0] in result.household_ids


def test_dtw_option_clusters_planted_groups(community):
    load, truth = planted(community, n_per_group=5)
    feats = household_features(load, load * 0, community.weather["temp_c"])
    engine = HouseholdClusterer(ClusterConfig(metric="dtw", k_max=3, seed=0))
    result = engine.fit_result(feats)
    assert result.metric == "dtw" and result.k == 2
    assert adjusted_rand_score(truth, result.labels) == 1.0


def test_invalid_input_is_refused(community, features):
    with pytest.raises(NotFittedError):
        HouseholdClusterer().predict(features)
    with pytest.raises(InsufficientDataError):
        HouseholdClusterer().fit(features.iloc[:2])
    load = community.load_kwh.iloc[:, :3].copy()
    load.iloc[10, 1] = -2.0
    with pytest.raises(NegativeValueError, match="Building_2"):
        household_features(load, load.clip(lower=0) * 0, community.weather["temp_c"])
