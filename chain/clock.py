"""The chain's clock as the services see it (:class:`ChainClock`)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any


class ChainClock:
    """The chain's current time as the services see it, unix seconds.

    ``now()`` is the wall clock plus the chain's offset, learnt from the latest block (a
    local chain's clock may run ahead of the wall clock: ``evm_increaseTime``). It is never
    ahead of the chain: a block observed late only lowers the estimate. With a block per
    transaction the latest block can be old (a restarted local chain's last block may be
    hours old), which is why the wall clock carries it on and the offset is never below 0
    (a node's clock does not run behind the wall clock; on a public chain the latest block
    lags by less than a block time, which the oracle's grace covers).
    ``wall_until`` is the wall time until a chain instant at real speed, at most
    ``max_wait_s`` (the chain may jump forward meanwhile: callers wait in a loop).
    """

    def __init__(self, w3: Any, cache_s: float = 0.25, max_wait_s: float = 0.5) -> None:
        self.w3 = w3
        self.cache_s = cache_s
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._offset = -math.inf
        self._checked = -math.inf

    def now(self) -> float:
        wall = time.time()
        with self._lock:
            if wall - self._checked >= self.cache_s:
                ts = int(self.w3.eth.get_block("latest")["timestamp"])
                self._offset = max(self._offset, ts - wall, 0.0)
                self._checked = wall
            return wall + self._offset

    def wall_until(self, chain_s: float) -> float:
        return min(chain_s - self.now(), self.max_wait_s)
