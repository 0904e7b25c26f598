"""EventScan: reads only new blocks, in bounded chunks, and re-reads the reorg margin."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coalitions.logscan import EventScan


class Chain:
    """A list of blocks, each holding the logs of one event (what eth_getLogs filters)."""

    def __init__(self, blocks: int) -> None:
        self.logs: dict[int, list[dict]] = {b: [] for b in range(blocks)}
        self.asked: list[tuple[int, int]] = []

    def add(self, block: int, name: str) -> None:
        self.logs.setdefault(block, []).append({"blockNumber": block, "name": name})

    def get_logs(self, lo: int, hi: int) -> list[dict]:
        self.asked.append((lo, hi))
        return [e for b in range(lo, hi + 1) for e in self.logs.get(b, [])]

    def everything(self) -> list[dict]:
        return [e for b in sorted(self.logs) for e in self.logs[b]]

    def latest(self) -> int:
        return max(self.logs)


def names(logs):
    return [e["name"] for e in logs]


def test_a_second_scan_reads_only_the_new_blocks_and_the_reorg_margin():
    chain = Chain(100)
    chain.add(10, "a")
    scan = EventScan(chain.get_logs, chain.latest, start_block=5, chunk_blocks=1000,
                     reorg_depth=3)
    assert names(scan.logs()) == ["a"] and chain.asked == [(5, 99)]
    chain.logs.update({b: [] for b in range(100, 120)})
    chain.add(110, "b")
    assert names(scan.logs()) == ["a", "b"] and chain.asked[-1] == (97, 119)
    assert names(scan.logs()) == ["a", "b"] and chain.asked[-1] == (117, 119)


def test_long_ranges_are_read_in_chunks():
    chain = Chain(12_001)
    chain.add(0, "first")
    chain.add(12_000, "last")
    scan = EventScan(chain.get_logs, chain.latest, chunk_blocks=5000)
    assert names(scan.logs()) == ["first", "last"]
    assert chain.asked == [(0, 4999), (5000, 9999), (10_000, 12_000)] and scan.calls == 3


def test_a_log_removed_by_a_shallow_reorg_disappears_and_a_new_one_appears():
    chain = Chain(50)
    chain.add(48, "orphaned")
    scan = EventScan(chain.get_logs, chain.latest, reorg_depth=5)
    assert names(scan.logs()) == ["orphaned"]
    chain.logs[48] = [{"blockNumber": 48, "name": "replacement"}]
    assert names(scan.logs()) == ["replacement"]


def test_a_chain_that_got_shorter_loses_the_logs_of_its_missing_blocks():
    chain = Chain(60)
    chain.add(55, "gone")
    chain.add(20, "kept")
    scan = EventScan(chain.get_logs, chain.latest, reorg_depth=0)
    assert names(scan.logs()) == ["kept", "gone"]
    for b in range(50, 60):
        del chain.logs[b]
    assert names(scan.logs()) == ["kept"]


def test_bad_settings_are_refused():
    chain = Chain(1)
    with pytest.raises(ValueError, match="chunk_blocks"):
        EventScan(chain.get_logs, chain.latest, chunk_blocks=0)
    with pytest.raises(ValueError, match="reorg_depth"):
        EventScan(chain.get_logs, chain.latest, reorg_depth=-1)


@given(
    events=st.lists(st.integers(0, 300), max_size=40),
    growth=st.lists(st.integers(0, 80), min_size=1, max_size=6),
    chunk=st.integers(1, 120),
    depth=st.integers(0, 20),
)
def test_incremental_scans_see_what_one_full_scan_sees(events, growth, chunk, depth):
    chain = Chain(1)
    scan = EventScan(chain.get_logs, chain.latest, chunk_blocks=chunk, reorg_depth=depth)
    height = 0
    for step in growth:
        height += step
        chain.logs.update({b: chain.logs.get(b, []) for b in range(height + 1)})
        for i, block in enumerate(events):
            if block <= height and not any(e["name"] == i for e in chain.logs[block]):
                chain.add(block, i)
        got = scan.logs()
        assert got == chain.everything()
        assert all(hi - lo < chunk for lo, hi in chain.asked)
