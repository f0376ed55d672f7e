"""A line to stderr every ``$ADLIB_HEARTBEAT_S`` seconds from long work that runs without a progress bar.

Batch jobs (a grid's cells, a device call under a deadline) train with progress bars off, so a run the deadline
stops leaves no trace of how far it got. With ``ADLIB_HEARTBEAT_S=30`` the training loop and the evaluation say,
every 30 s, where they are (``[heartbeat pid 123] fit daf: step 1200/6144, 95 s``; a first line once set up, at
step 0 or the step resumed from); unset or 0, nothing is printed.
"""

from __future__ import annotations

import os
import sys
import time

HEARTBEAT_ENV = "ADLIB_HEARTBEAT_S"


def heartbeat_every() -> float | None:
    """Seconds between heartbeats from ``$ADLIB_HEARTBEAT_S`` (None when unset or 0)."""
    value = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not value:
        return None
    try:
        every = float(value)
    except ValueError:
        raise ValueError(f"{HEARTBEAT_ENV} must be a number of seconds, got {value!r}") from None
    if every < 0:
        raise ValueError(f"{HEARTBEAT_ENV} must be >= 0, got {value!r}")
    return every or None


class Heartbeat:
    """``beat(done)`` prints ``what: <unit> done/total, seconds`` when ``every`` seconds passed since the last line
    (``every`` None: from the environment, :func:`heartbeat_every`)."""

    def __init__(self, what: str, total: int | None = None, unit: str = "step", every: float | None = None,
                 stream=None):
        self.what, self.total, self.unit = what, total, unit
        self.every = heartbeat_every() if every is None else (every or None)
        self.stream = stream
        self.t0 = self.last = time.monotonic()

    def beat(self, done: int, force: bool = False) -> bool:
        if self.every is None:
            return False
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return False
        self.last = now
        total = f"/{self.total}" if self.total is not None else ""
        print(f"[heartbeat pid {os.getpid()}] {self.what}: {self.unit} {done}{total}, {now - self.t0:.0f} s",
              file=self.stream or sys.stderr, flush=True)
        return True
