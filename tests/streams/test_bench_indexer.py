"""``bench_indexer`` on a small load: it runs end to end and reports consistent figures (speed
itself is the benchmark's business, not a test's)."""

from __future__ import annotations

from streams.bench import bench_indexer


def test_bench_indexer_small():
    out = bench_indexer(events=300, databases=("sqlite",))
    assert out["events"] >= 300  # batch events plus the deployment's own
    assert out["sqlite"]["events"] == out["events"]  # the runner projected every decoded log
    assert out["raw_s"] == min(out["raw_passes_s"]) > 0
    # The ratio comes from unrounded times; the reported ones have 3 decimals, so on a load
    # this small (times of a few ms) only the bounds that rounding allows can be checked.
    project_s, raw_s = out["sqlite"]["project_s"], out["raw_s"]
    low = max(project_s - 0.0005, 0) / (raw_s + 0.0005)
    high = (project_s + 0.0005) / max(raw_s - 0.0005, 1e-9)
    assert low * 0.99 <= out["sqlite"]["ratio"] <= high * 1.01
    assert out["peak_rss_mb"] > 0
    assert out["raw_cpu_s"] > 0 and out["sqlite"]["cpu_s"] > 0


def test_postgres_server_cpu_seconds_count_the_backends(pg_server):
    import psycopg

    before = pg_server.cpu_seconds()
    with psycopg.connect(pg_server.dsn()) as conn:
        conn.execute("SELECT sum(i) FROM generate_series(1, 3000000) AS i").fetchone()
        assert pg_server.cpu_seconds() > before  # the query's backend, read while it lives
