"""Folders adlib writes (a converted dataset, a category, an extracted tree): complete or redone.

Each carries ``.adlib_manifest.json``: every file below it with its size, written last.
:func:`build` fills a hidden sibling ``.<name>.partial-<pid>-<id>`` and renames it into place only
when complete, so a killed run never leaves a half folder under the real name; :func:`problem` says
why a folder does not match its manifest (missing, changed-size or unlisted files); :func:`ensure`
redoes such a folder when its source is at hand, else raises :class:`DatasetIncompleteError`
naming it and what to do. Sizes are compared, not contents (a same-size damage is not seen).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Callable

from adlib.fileio import atomic_write_text

from .errors import DataError, DatasetNotFoundError

MANIFEST = ".adlib_manifest.json"
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)-[0-9a-f]{8}$")


class DatasetIncompleteError(DatasetNotFoundError):
    """A prepared or extracted dataset folder is incomplete or damaged and cannot be redone here."""


def scan(folder: str | os.PathLike) -> dict[str, int]:
    """``{relative posix path: size}`` of the regular files below ``folder`` (not the manifest, not
    hidden names); links are not followed."""
    folder, out = Path(folder), {}
    for dirpath, dirnames, files in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(folder)
        for f in sorted(files):
            p = Path(dirpath) / f
            if not f.startswith(".") and p.is_file() and not p.is_symlink():
                out[(rel / f).as_posix()] = p.stat().st_size
    return out


def write_manifest(folder: str | os.PathLike, keep_missing: dict | None = None, **info) -> Path:
    """Record every file of ``folder`` (and ``info``) in its manifest, atomically. Entries of an older
    list ``keep_missing`` whose files are gone stay listed (a redo that could not restore them must
    not make the damage look complete)."""
    folder = Path(folder)
    files = scan(folder)
    files = {**{k: v for k, v in (keep_missing or {}).items() if k not in files}, **files}
    return atomic_write_text(folder / MANIFEST, json.dumps({**info, "files": files}, indent=0))


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of ``folder`` (``None`` if missing or unreadable)."""
    try:
        m = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and isinstance(m.get("files"), dict) else None


def problem(folder: str | os.PathLike, under: str | None = None) -> str | None:
    """Why ``folder`` (only its sub-folder ``under``, if given) does not match its manifest, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} does not exist"
    m = read_manifest(folder)
    if m is None:
        what = "is unreadable" if (folder / MANIFEST).exists() else "is missing"
        return f"its file list {folder / MANIFEST} {what}: the preparation did not finish (or an older adlib wrote it)"
    prefix = f"{under.strip('/')}/" if under else ""
    want = {k: v for k, v in m["files"].items() if k.startswith(prefix)}
    have = {prefix + k: v for k, v in scan(folder / prefix).items()} if (folder / prefix).is_dir() else {}
    missing = sorted(set(want) - set(have))
    if missing:
        return f"{len(missing)} of its {len(want)} files are missing, e.g. {folder / missing[0]}"
    changed = sorted(k for k in want if have[k] != want[k])
    if changed:
        k = changed[0]
        return f"{len(changed)} files changed size, e.g. {folder / k} ({have[k]} bytes, {want[k]} when written)"
    extra = sorted(set(have) - set(want))
    if extra:
        return f"{len(extra)} files were added after it was written, e.g. {folder / extra[0]}"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(final: Path) -> None:
    """Remove hidden partial/old siblings of ``final`` left by processes that no longer run."""
    for p in final.parent.iterdir() if final.parent.is_dir() else ():
        m = _SIBLING.match(p.name)
        if m and m["name"] == final.name and not _alive(int(m["pid"])):
            shutil.rmtree(p, ignore_errors=True)


def build(final: str | os.PathLike, fill: Callable[[Path], object], replace: bool = False, **info) -> Path:
    """Write ``final`` via a hidden sibling: ``fill(tmp)``, the manifest (with ``info``), then rename.

    An existing ``final`` is replaced when ``replace`` (else it must be complete, as when another
    process finished first). On any error, or a kill, ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(final)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, old = final.parent / f".{final.name}.partial-{tag}", final.parent / f".{final.name}.old-{tag}"
    tmp.mkdir()
    try:
        fill(tmp)
        write_manifest(tmp, **info)
        if replace and final.exists():
            final.rename(old)
        try:
            tmp.rename(final)
        except OSError:
            if problem(final) is not None:
                raise
    finally:
        for p in (tmp, old):
            if p.exists():
                shutil.rmtree(p, ignore_errors=True)
    return final


def ensure(folder: str | os.PathLike, redo: Callable[[], object] | None, what: str, hint: str,
           under: str | None = None) -> None:
    """Check ``folder`` against its manifest; redo it (with a warning) or raise naming it."""
    folder = Path(folder)
    why = problem(folder, under)
    if why is None:
        return
    if redo is None:
        raise DatasetIncompleteError(f"{what} at {folder} is incomplete or damaged: {why}. {hint}")
    if folder.exists():  # a first preparation is no news
        warnings.warn(f"{what} at {folder} is incomplete or damaged ({why}); preparing it again", stacklevel=3)
    try:
        redo()
    except DataError as exc:
        raise DatasetIncompleteError(f"{what} at {folder} is incomplete or damaged: {why}. Preparing it again "
                                     f"failed: {exc}") from exc
    why = problem(folder, under)
    if why is not None:
        raise DatasetIncompleteError(f"{what} at {folder} is still incomplete after preparing it again: {why}. {hint}")
