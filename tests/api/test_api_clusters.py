"""GET /clusters and /clusters/report: the latest stored clustering, for any logged-in member,
with cluster counts only (no household ids or pseudonyms), small clusters suppressed."""

from __future__ import annotations

import pytest

from tests.api.api_helpers import bearer


@pytest.fixture()
def stored(tmp_path, monkeypatch):
    from analytics.clustering.engine import ClusterConfig, HouseholdClusterer
    from analytics.clustering.features import household_features
    from analytics.clustering.store import cluster_and_save, save_result
    from analytics.data import citylearn
    from analytics.data.synthetic import synthetic_community
    from analytics.settings import analytics_settings

    monkeypatch.setenv("BRIGHT_ANALYTICS_CLUSTERS_DIR", str(tmp_path))
    analytics_settings.cache_clear()
    community = synthetic_community(20, seed=0)
    infos = {h.home_id: h for h in citylearn.homes()}
    features = household_features(
        community.load_kwh, community.pv_kwh, citylearn.load_weather()["temp_c"],
        {k: v.battery_kwh for k, v in infos.items()}, {k: v.battery_kw for k, v in infos.items()})
    result = HouseholdClusterer(ClusterConfig(seed=0)).fit(features).result_
    summary = save_result(result)
    assert summary == cluster_and_save(20, 0) | {"created_at_s": summary["created_at_s"],
                                                  "seconds": summary["seconds"]}
    yield result, summary
    analytics_settings.cache_clear()


def test_no_clustering_yet_is_404(client, tokens, tmp_path, monkeypatch):
    from analytics.settings import analytics_settings

    monkeypatch.setenv("BRIGHT_ANALYTICS_CLUSTERS_DIR", str(tmp_path / "empty"))
    analytics_settings.cache_clear()
    try:
        got = client.get("/clusters", headers=bearer(tokens["home-01"]))
        assert got.status_code == 404 and got.json()["error"]["code"] == "not_found"
        assert client.get("/clusters/report", headers=bearer(tokens["home-01"])).status_code == 404
    finally:
        analytics_settings.cache_clear()


def test_members_see_cluster_counts_without_household_ids(client, tokens, stored):
    result, _summary = stored
    assert client.get("/clusters").status_code == 401
    assert client.get("/clusters", headers=bearer(tokens["admin"])).status_code == 403
    for who in ("home-01", "dso"):
        got = client.get("/clusters", headers=bearer(tokens[who]))
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["k"] == result.k and body["households"] == 20
        assert body["silhouette"] == pytest.approx(result.silhouette, abs=1e-4)
        assert [c["size"] for c in body["clusters"]] == [result.sizes[c] for c in range(result.k)]
        for c in body["clusters"]:
            if c["size"] < body["min_cluster_size_shown"]:
                assert c["suppressed"] and c["centroid_profile"] is None
            else:
                assert len(c["centroid_profile"]) == 24 and c["feature_means"]
        text = got.text
        assert "HH-" not in text and "Building" not in text
        assert not any(h in text for h in result.household_ids)
    report = client.get("/clusters/report", headers=bearer(tokens["home-03"]))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "Household clusters" in report.text
    assert "HH-" not in report.text and not any(h in report.text for h in result.household_ids)
    assert client.get("/clusters/report").status_code == 401
