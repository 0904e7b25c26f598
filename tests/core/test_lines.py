"""Lines printed by many threads at once come out whole (bright up's output)."""

from __future__ import annotations

import io
import sys
import threading

from core.lines import LineStream, whole_lines


class _Chunky(io.StringIO):
    """A stream that lets other threads in between any two writes."""

    def write(self, text: str) -> int:
        n = 0
        for ch in text:  # one character at a time, yielding the GIL
            n += super().write(ch)
        return n


def test_threads_printing_at_once_never_run_their_lines_together():
    inner = _Chunky()
    out = LineStream(inner)
    lines = {f"thread {t} line {i} " + "x" * (i % 7) for t in range(8) for i in range(200)}

    def talk(t: int) -> None:
        for i in range(200):
            print(f"thread {t} line {i} " + "x" * (i % 7), file=out)  # text, then "\n"

    threads = [threading.Thread(target=talk, args=(t,)) for t in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: unwrapped, lines break
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(interval)
    written = inner.getvalue().splitlines()
    assert sorted(written) == sorted(lines)


def test_text_without_a_newline_waits_for_it_or_a_flush():
    inner = io.StringIO()
    out = whole_lines(inner)
    assert whole_lines(out) is out
    out.write("half ")
    assert inner.getvalue() == ""
    out.write("a line\nmore")
    assert inner.getvalue() == "half a line\n"
    out.flush()
    assert inner.getvalue() == "half a line\nmore"
