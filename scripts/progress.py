"""A dependency-free progress line for long CLI jobs (stderr, one line, overwritten in a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress("加载楼栋", total=n) as p: p.advance(k)`` — prints done/total, rate and elapsed time."""

    def __init__(self, label: str, total: int | None = None, *, stream=None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __enter__(self) -> Progress:
        self._print(force=True)
        return self

    def __exit__(self, *exc) -> None:
        self._print(force=True, final=True)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done and redraw at most five times a second."""
        self.done += n
        self._print()

    def step(self, label: str) -> None:
        """Announce a named step of a multi-step job."""
        self.label = label
        self._print(force=True)

    def _print(self, *, force: bool = False, final: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        elapsed = now - self.start
        if self.total:
            pct = 100.0 * self.done / self.total
            bar = "#" * int(pct / 5)
            text = f"{self.label} [{bar:<20}] {self.done}/{self.total} ({pct:5.1f}%) {elapsed:6.1f}s"
        else:
            text = f"{self.label} … {elapsed:6.1f}s"
        if self._tty and not final:
            self.stream.write("\r" + text[:120].ljust(120))
        elif self._tty:
            self.stream.write("\r" + text[:120].ljust(120) + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
