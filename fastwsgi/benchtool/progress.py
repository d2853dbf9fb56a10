"""A progress bar on standard error: which configuration runs, and what is left.

On a terminal one line is redrawn in place; otherwise (a log, CI) each step
prints one line, so the record stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24


class Progress:
    """Counts steps of roughly known length; draws a bar and the time left."""

    def __init__(self, total: int, seconds_per_step: float, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.seconds_per_step = seconds_per_step
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.started = time.monotonic()
        self.tty = self.stream.isatty()

    def remaining_s(self) -> float:
        """Seconds left: the measured pace so far, else the estimate per step."""
        left = self.total - self.done
        if self.done:
            return (time.monotonic() - self.started) / self.done * left
        return self.seconds_per_step * left

    def line(self, what: str) -> str:
        filled = round(BAR_WIDTH * self.done / self.total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        left = self.remaining_s()
        return (f"[{bar}] {self.done}/{self.total} {what}  "
                f"~{int(left // 60)}m{int(left % 60):02d}s left")

    def show(self, what: str) -> None:
        """Announce the step that starts now."""
        if not self.enabled:
            return
        text = self.line(what)
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, result: str) -> None:
        """Finish one step, with a one-line result kept on screen."""
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"  {result}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()
