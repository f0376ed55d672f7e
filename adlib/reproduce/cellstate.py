"""What a cell's folder says: is its results file valid, and is a run working on it (a lock file).

A results file that is not JSON, not schema-valid or not this cell's (method, seed) is *corrupt*: the
cell is shown as ``failed: corrupt results file <path>: <why>`` and the next run sets the file aside
as ``results.json.corrupt`` and runs the cell again. A run holds ``<cell folder>/.lock`` (created with
``O_CREAT | O_EXCL``, holding pid, host and start time) while it trains a cell, so a second run on the
same ``--out`` skips that cell instead of training it twice; a lock left by a process that is gone
(same host, pid dead or reused) is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".lock"
CORRUPT_SUFFIX = ".corrupt"
EMPTY_LOCK_GRACE_S = 60.0  # a lock file still empty after this long was left by a crash between create and write


class CellLocked(RuntimeError):
    """Another run holds the cell's lock."""


def read_results_file(path: str | os.PathLike, method: str | None = None, seed: int | None = None
                      ) -> tuple[dict | None, str | None]:
    """``(results, None)`` for a valid results file (of ``method`` and ``seed`` when given), else
    ``(None, why)``; ``(None, None)`` when there is no file."""
    from adlib.engine.results import validate_results

    path = Path(path)
    if not path.is_file():
        return (None, "not a file") if path.exists() or path.is_symlink() else (None, None)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        return None, f"not JSON ({exc})"
    try:
        validate_results(d)
    except ValueError as exc:
        lines = str(exc).splitlines()
        return None, "not a results file (" + (lines[1].strip(" -") if len(lines) > 1 else lines[0]) + ")"
    for key, want in (("method", method), ("seed", seed)):
        if want is not None and d.get(key) != want:
            return None, f"holds {key} {d.get(key)!r}, not this cell's {want!r}"
    return d, None


def corrupt_status(path, why: str) -> str:
    return f"failed: corrupt results file {path}: {why}"


def set_aside(path: str | os.PathLike) -> Path:
    """Rename a corrupt results file to ``<name>.corrupt`` (replacing an older one); returns the new path."""
    path = Path(path)
    bad = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, bad)
    return bad


def clean_partial(folder: str | os.PathLike) -> None:
    """Remove what an interrupted attempt may have left: atomic-write temporaries and a stale ``error.txt``."""
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.glob(".results.json.*.tmp"):
            tmp.unlink(missing_ok=True)
        (folder / "error.txt").unlink(missing_ok=True)


def _pid_alive(pid: int, since: float | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    try:  # a pid reused by a process started after the lock: the holder is gone
        import psutil

        return since is None or psutil.Process(pid).create_time() <= since + 1.0
    except Exception:  # noqa: BLE001 - psutil missing or process gone
        return True


def _holder(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _stale(path: Path, holder: dict) -> bool:
    if not holder:  # empty / unreadable: being written now, or left by a crash right after creation
        try:
            return time.time() - path.stat().st_mtime > EMPTY_LOCK_GRACE_S
        except FileNotFoundError:
            return False
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False  # another machine's process: cannot be checked from here
    return not _pid_alive(holder["pid"], holder.get("time"))


def describe(holder: dict) -> str:
    if not holder:
        return "another run (lock file being written)"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


class CellLock:
    """``with CellLock(folder):`` holds ``folder/.lock`` or raises :class:`CellLocked` naming its holder."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_NAME
        self.token = f"{os.getpid()}-{time.time_ns()}"

    def acquire(self) -> "CellLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink() or self.path.is_dir():
            raise CellLocked(f"{self.path} is not a lock file (a link or folder): delete it, then run again")
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _holder(self.path)
                if holder is None:
                    continue  # released meanwhile
                if not _stale(self.path, holder):
                    raise CellLocked(f"running elsewhere: {describe(holder)} (lock {self.path}; if no run is "
                                     "active any more, delete that file)") from None
                stale = self.path.with_name(f"{LOCK_NAME}.stale.{self.token}")
                try:
                    os.replace(self.path, stale)
                except FileNotFoundError:
                    continue
                stale.unlink(missing_ok=True)
                continue
            now = time.time()
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "token": self.token, "time": now,
                           "started": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")}, f)
            return self
        raise CellLocked(f"running elsewhere: could not take {self.path}")

    def release(self) -> None:
        """Remove the lock file if it is still this lock's."""
        if (_holder(self.path) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "CellLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def results_note(res: dict) -> str | None:
    """What a results file says about metrics it lacks or computed on part of the data
    (``pixel_auroc, ... unavailable: <why>``; ``<note>``), or None."""
    notes: dict[str, list[str]] = {}
    for name, m in (res.get("metrics") or {}).items():
        proto = (m.get("protocol") or {}) if isinstance(m, dict) else {}
        why = f"unavailable: {proto['unavailable']}" if proto.get("unavailable") else proto.get("note")
        if why:
            notes.setdefault(why, []).append(name)
    return "; ".join(f"{', '.join(names)} {why}" if why.startswith("unavailable") else why
                     for why, names in notes.items()) or None


def unavailable_metrics(results: list[dict]) -> dict:
    """``{metric: why}`` for the metrics that results files mark unavailable (value null)."""
    return {k: v["protocol"]["unavailable"] for r in results for k, v in r["metrics"].items()
            if isinstance(v, dict) and v.get("value") is None and (v.get("protocol") or {}).get("unavailable")}
