"""The demo soak benchmark on a real `bright up`: killed (SIGKILL to the whole process tree)
at a random moment and stopped with Ctrl-C at checkpoints, the platform comes back every
time with its chain and its deployment, and the figures are measured, not assumed."""

from __future__ import annotations

from bright.bench_demo import bench_demo


def test_the_demo_comes_back_after_kills_and_stops_with_its_chain(tmp_path):
    result = bench_demo(
        hours=0.5, checkpoints=(0.25, 0.5), kills=1, forecasts=False, seed=3,
        state_dir=tmp_path,
    )
    events = [r["event"] for r in result["restarts"]]
    assert events.count("kill") == 1 and events.count("stop") == 2
    assert result["redeployed_after_restart"] == 0  # every restart found its deployment
    for r in result["restarts"]:
        assert r["state_bytes"] > 0 and r["restart_running_s"] > 0
    # Clean stops save everything: nothing is lost; a kill loses at most what came after
    # the last save (2 s of blocks).
    assert all(r["blocks_lost"] == 0 for r in result["restarts"] if r["event"] == "stop")
    # The simulated meters go on from their last readings after every restart: no reading
    # is refused as going backwards (thousands were, after each restart, before).
    assert all(r["readings_refused_backwards_before"] == 0 for r in result["restarts"])
    first, last = result["checkpoints"]
    assert last["blocks"] > first["blocks"] and last["state_bytes"] >= first["state_bytes"]
    assert (tmp_path / "chain" / "state.json.gz").exists()
    assert {"worst_restart_chain_s", "worst_tree_peak_rss_mb", "peak_rss_mb"} <= set(result)
