from analytics.clustering.engine import ClusterConfig, HouseholdClusterer
from analytics.clustering.features import household_features
from analytics.clustering.report import pseudonym, write_report


def test_report_has_clusters_and_no_household_ids(community, tmp_path):
    feats = household_features(community.load_kwh, community.pv_kwh,
                               community.weather["temp_c"])
    result = HouseholdClusterer(ClusterConfig(seed=0, k_max=4)).fit_result(feats)
    html_path, pdf_path = write_report(result, tmp_path, salt="s3cret")
    page = html_path.read_text()
    assert "Building_" not in page and b"Building_" not in pdf_path.read_bytes()
    assert pdf_path.read_bytes().startswith(b"%PDF")
    for hid in result.household_ids:
        assert pseudonym(hid, "s3cret") in page
    assert page.count("data:image/png;base64,") == 2
    assert f"k = {result.k}" in page


def test_pseudonyms_are_stable_and_depend_on_the_salt():
    assert pseudonym("Building_1", "a") == pseudonym("Building_1", "a")
    assert pseudonym("Building_1", "a") != pseudonym("Building_1", "b")
    assert pseudonym("Building_1", "a") != pseudonym("Building_2", "a")
