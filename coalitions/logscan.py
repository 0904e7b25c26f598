"""Incremental, reorg-tolerant event scans for the coordination service.

The service used to ask ``eth_getLogs`` for every ``OptedIn`` and ``RequestSettled`` event
from block 0 each time it formed a coalition or picked a reserve: the cost grows with the
chain, and public RPC providers refuse ranges over a few thousand blocks. An
:class:`EventScan` asks only for the blocks it has not seen, in chunks of at most
``chunk_blocks``, and keeps what it found.

Reorgs: each scan starts again ``reorg_depth`` blocks below the newest block it has seen, and
the events it had kept from those blocks are dropped and read anew, so an event removed by a
reorg of up to that depth disappears and one added appears. (The chain stays the authority for
every decision: the contract checks each opt-in and refuses a repeated step.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GetLogs = Callable[[int, int], list[Any]]
"""``(from_block, to_block) -> logs`` (both inclusive), e.g. ``event.get_logs``."""


class EventScan:
    """The logs of one event from ``start_block`` on, read incrementally (module docstring)."""

    def __init__(self, get_logs: GetLogs, latest_block: Callable[[], int],
                 start_block: int = 0, chunk_blocks: int = 5000, reorg_depth: int = 12) -> None:
        if chunk_blocks < 1:
            raise ValueError("chunk_blocks must be at least 1")
        if reorg_depth < 0:
            raise ValueError("reorg_depth must not be negative")
        self._get_logs = get_logs
        self._latest = latest_block
        self.start_block = start_block
        self.chunk_blocks = chunk_blocks
        self.reorg_depth = reorg_depth
        self._logs: list[Any] = []
        self._next = start_block  # first block not read yet
        self.calls = 0
        """``eth_getLogs`` requests made so far (for tests and benchmarks)."""

    def logs(self) -> list[Any]:
        """Every log of the event from ``start_block`` to the latest block, in chain order."""
        latest = int(self._latest())
        # Re-read the margin; a chain that got shorter (a reorg to fewer blocks) drops the
        # logs kept from blocks it no longer has.
        first = max(self.start_block, min(self._next - self.reorg_depth, latest + 1))
        self._logs = [e for e in self._logs if int(e["blockNumber"]) < first]
        block = first
        while block <= latest:
            end = min(latest, block + self.chunk_blocks - 1)
            self._logs.extend(self._get_logs(block, end))
            self.calls += 1
            block = end + 1
        self._next = latest + 1
        return list(self._logs)


def contract_event_scan(event: Any, w3: Any, start_block: int = 0, chunk_blocks: int = 5000,
                        reorg_depth: int = 12) -> EventScan:
    """An :class:`EventScan` of a web3 contract event (``contract.events.Name``)."""
    return EventScan(
        lambda lo, hi: list(event.get_logs(from_block=lo, to_block=hi)),
        lambda: int(w3.eth.block_number), start_block, chunk_blocks, reorg_depth)
