"""Whole lines on a shared stream, whatever the threads.

``bright up`` prints from many threads at once (market rounds, the coordination actors, the
data-in path, the forecast feed, the read side). ``print`` writes its text and its newline
as separate writes, so two threads' lines could run together on one line. :class:`LineStream`
wraps a text stream: each thread's text is held until its newline, and every complete line
is written under one lock, so a line is never cut by another.
"""

from __future__ import annotations

import threading
from typing import TextIO

__all__ = ["LineStream", "whole_lines"]


class LineStream:
    """A text stream whose writes from any thread come out as whole lines (see the module)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._pending = threading.local()

    def write(self, text: str) -> int:
        held: str = getattr(self._pending, "text", "") + text
        cut = held.rfind("\n") + 1
        self._pending.text = held[cut:]
        if cut:
            with self._lock:
                self.inner.write(held[:cut])
                self.inner.flush()
        return len(text)

    def flush(self) -> None:
        held: str = getattr(self._pending, "text", "")
        with self._lock:
            if held:
                self.inner.write(held)
                self._pending.text = ""
            self.inner.flush()

    def __getattr__(self, name: str) -> object:  # fileno, isatty, encoding, ...
        return getattr(self.inner, name)


def whole_lines(stream: TextIO) -> TextIO:
    """``stream`` wrapped in a :class:`LineStream` (once)."""
    if isinstance(stream, LineStream):
        return stream
    return LineStream(stream)  # type: ignore[return-value]
