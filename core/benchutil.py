"""Helpers shared by the ``bright bench ...`` commands.

Every benchmark returns one JSON-serialisable dict; the CLI prints it as one line (the last
line of output). Each reports the process's peak resident memory and, where it has one, the
baseline it was compared against in the same run.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def peak_rss_mb() -> float:
    """Peak resident set size of this process (and its waited-for children), MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB, macOS bytes.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(max(own, children) / scale, 1)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...``; afterwards ``t[0]`` holds the elapsed seconds."""
    box: list[float] = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; raises ValueError on an empty list."""
    if not values:
        raise ValueError("percentile of an empty list")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]
