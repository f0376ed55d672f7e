"""Progress of a grid run: a bar on a terminal, a line per cell in a log.

When stdout is a terminal, :class:`CellProgress` shows a tqdm bar (as before). When it is not
(``adlib reproduce ... > run.log``), each cell prints a line when it starts and one when it ends,
with the start and end times, the seconds it took and its outcome, flushed at once, so a log of
a long run shows what is running now:

    2024-05-01 12:00:03 mrkd table 5 [1/4] start weave mrkd__epochs=6 seed 0
    2024-05-01 12:09:41 mrkd table 5 [1/4] end   weave mrkd__epochs=6 seed 0: done (12:00:03 → 12:09:41, 578.2 s)
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


class CellProgress:
    """``start(label)`` / ``end(label, outcome)`` per cell; ``close()`` at the end. ``enabled=False``:
    silent. ``lines``: force line mode (True) or the bar (False); default: lines unless stdout is a terminal."""

    def __init__(self, total: int, desc: str, enabled: bool = True, lines: bool | None = None, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream
        self.lines = (not _isatty(sys.stdout)) if lines is None else lines
        self.bar = None
        if enabled and not self.lines:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc)
        self.started: dict = {}
        self.count = 0
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        print(f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {self.desc} {text}", file=self.stream or sys.stdout,
              flush=True)

    def start(self, label: str) -> None:
        with self._lock:
            self.started[label] = time.time()
            if self.enabled and self.lines:
                self._print(f"[{self.count + 1}/{self.total}] start {label}")

    def end(self, label: str, outcome: str, n: int = 1) -> None:
        """One cell (or ``n`` cells that shared one run) finished with ``outcome``."""
        with self._lock:
            now = time.time()
            ran = label in self.started  # cells that never started (done before, held elsewhere) get no line
            t0 = self.started.pop(label, now)
            self.count += n
            if self.bar is not None:
                self.bar.update(n)
            elif self.enabled and self.lines and ran:
                self._print(f"[{self.count}/{self.total}] end   {label}: {outcome} "
                            f"({_clock(t0)} → {_clock(now)}, {now - t0:.1f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cell_label(cell) -> str:
    """``<category> <tag> seed <seed>`` of a :class:`~adlib.reproduce.grid.Cell`."""
    from adlib.experiment import category_name

    return f"{category_name(cell.run.get('category'))} {cell.tag} seed {cell.run.get('seed')}"
