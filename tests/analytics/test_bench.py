from analytics.bench import bench_clustering


def test_bench_clustering_reports_time_k_silhouette_and_memory():
    out = bench_clustering(homes=30)
    assert out["homes"] == 30 and out["hours"] == 8760
    assert out["k"] >= 2 and -1 <= out["silhouette"] <= 1
    assert sum(out["sizes"].values()) == 30
    assert out["seconds"] > 0 and out["peak_rss_mb"] > 0
