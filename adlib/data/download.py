"""Resumable, checksum-verified downloads, safe archive extraction and ``fetch(dataset, root)``.

Only the standard library (``urllib``) talks to the network. ``ADLIB_OFFLINE=1`` (or
``offline=True``) forbids it: a missing file then raises :class:`DownloadUnavailableError`,
whose message says which file to get by hand, its checksum and the folder to put it in.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from adlib.fileio import atomic_write_text

from . import sources
from .errors import DataError

CHUNK = 1 << 20
OFFLINE_ENV = "ADLIB_OFFLINE"
STATE_DIR = ".adlib"
USER_AGENT = "adlib-downloader/0.1 (python urllib)"


class DownloadError(DataError):
    """A download, verification or extraction failed."""


class DownloadUnavailableError(DownloadError):
    """The file cannot be fetched (offline, unreachable, HTTP error): download it by hand."""


class ChecksumError(DownloadError):
    """A file does not match its published checksum (kept as ``<name>.corrupt``)."""


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the destination, or is a link/device file."""


class _Interrupted(Exception):
    """The connection broke after some bytes arrived (the ``.part`` file can be resumed)."""


def is_offline() -> bool:
    """True when ``ADLIB_OFFLINE`` is set to something other than ``0``/``false``/``no``."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _bar(total, desc, progress, initial=0):
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None if progress else True, leave=False)


def file_digests(path: str | os.PathLike, algos=("sha256",), progress: bool = False) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm in ``algos`` (one pass)."""
    path = Path(path)
    hs = {a: hashlib.new(a) for a in algos}
    with open(path, "rb") as f, _bar(path.stat().st_size, f"hashing {path.name}", progress) as bar:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            for h in hs.values():
                h.update(chunk)
            bar.update(len(chunk))
    return {a: h.hexdigest() for a, h in hs.items()}


def verify_file(path, sha256=None, md5=None, corrupt_as=None, progress=False) -> dict[str, str]:
    """Check ``path`` against the given digests; on mismatch rename it to ``*.corrupt`` and raise."""
    path = Path(path)
    expected = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v}
    got = file_digests(path, tuple(dict.fromkeys(["sha256", *expected])), progress)
    bad = {k: v for k, v in expected.items() if got[k] != v}
    if bad:
        corrupt = base = Path(corrupt_as) if corrupt_as else path.with_name(path.name + ".corrupt")
        for i in range(1, 1000):
            if not corrupt.exists():
                break
            corrupt = base.with_name(f"{base.name}.{i}")  # never overwrite an earlier bad copy
        os.replace(path, corrupt)
        what = "; ".join(f"expected {k.upper()} {v}, got {got[k]}" for k, v in bad.items())
        raise ChecksumError(f"checksum mismatch for {path.name.removesuffix('.part')}: {what}. The file was kept "
                            f"as {corrupt} (delete it when done); run again to download it anew.")
    return got


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _stream(url: str, part: Path, progress: bool, timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        total = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
        e.close()
        if total and int(total.group(1)) == offset:
            return  # the .part is already complete
        part.unlink()
        offset, resp = 0, _open(url, 0, timeout)
    start = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", "") or "")
    if resp.status == 206 and not (offset and start and int(start.group(1)) == offset):
        resp.close()  # a partial answer we did not ask for: start over without Range
        offset, resp = 0, _open(url, 0, timeout)
    elif resp.status != 206:
        offset = 0  # the server ignored the Range request: start over
    with resp:
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length else None
        got = 0
        with open(part, "ab" if offset else "wb") as f, _bar(total, part.name[:-5], progress, offset) as bar:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Interrupted(str(exc)) from exc
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
        if length is not None and got < int(length):
            raise _Interrupted(f"connection closed after {got} of {length} bytes")


def download_file(url, dest, sha256=None, md5=None, resume=True, progress=True, timeout=60.0,
                  retries=2) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part`` (resumed with HTTP Range), verify, rename.

    Skips the download when ``dest`` exists and matches the checksums. A mismatch raises
    :class:`ChecksumError` and keeps the file as ``dest.corrupt``; no network (or
    ``ADLIB_OFFLINE=1``) raises :class:`DownloadUnavailableError` with manual instructions.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256 or md5:
            verify_file(dest, sha256, md5, progress=progress)
        return dest

    def unavailable(reason):
        exc = DownloadUnavailableError(sources.manual_message(
            [sources.RemoteFile(dest.name, (url,), sha256, md5)], dest.parent, reason=reason))
        exc.reason = reason
        return exc

    if is_offline():
        raise unavailable(f"offline mode, {OFFLINE_ENV}=1")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.exists() and not resume:
        part.unlink()
    for attempt in range(retries + 1):
        try:
            _stream(url, part, progress, timeout)
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise unavailable(f"interrupted: {exc}; the partial file {part} is kept and resumed next time")
            time.sleep(min(2.0 ** attempt, 10.0) * 0.5)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            raise unavailable(f"{type(exc).__name__}: {exc}") from exc
    if sha256 or md5:
        verify_file(part, sha256, md5, corrupt_as=dest.with_name(dest.name + ".corrupt"), progress=progress)
    os.replace(part, dest)
    return dest


def _check_member(name: str, dest: str, kind: str = "file", link: str | None = None) -> None:
    def inside(p: str) -> bool:
        p = os.path.realpath(p)
        return p == dest or p.startswith(dest + os.sep)

    def unsafe(why):
        return UnsafeArchiveError(f"refusing to extract {name!r}: {why} (destination {dest})")

    for n, what in ((name, "path"), (link, "link target")):
        if n is not None and (n.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", n)):
            raise unsafe(f"absolute {what}")
    if ".." in re.split(r"[\\/]+", name):
        raise unsafe("'..' in path")
    if kind == "dev":
        raise unsafe("device file or fifo")
    if not inside(os.path.join(dest, name)):
        raise unsafe("it would land outside the destination")
    if kind == "sym" and not inside(os.path.join(dest, os.path.dirname(name), link)):
        raise unsafe(f"symlink to {link!r} points outside the destination")
    if kind == "hard" and not inside(os.path.join(dest, link)):
        raise unsafe(f"hard link to {link!r} points outside the destination")


class _CountingReader:
    def __init__(self, f, bar):
        self.f, self.bar = f, bar

    def read(self, n=-1):
        b = self.f.read(n)
        self.bar.update(len(b))
        return b


def extract_archive(archive, dest_dir, progress=True) -> Path:
    """Safely extract a .tar/.tar.gz/.tgz/.tar.xz/.tar.bz2/.zip into ``dest_dir``; returns it.

    Absolute paths, ``..``, links pointing outside and device files raise :class:`UnsafeArchiveError`
    (tar also uses the ``data`` extraction filter when this Python has it).
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = os.path.realpath(dest_dir)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info.filename, dest)
            with _bar(sum(i.file_size for i in infos), f"extracting {archive.name}", progress) as bar:
                for info in infos:
                    zf.extract(info, dest)
                    bar.update(info.file_size)
        return dest_dir
    if not tarfile.is_tarfile(archive):
        raise DownloadError(f"not a tar or zip archive: {archive}")
    has_filter = hasattr(tarfile, "data_filter")
    with open(archive, "rb") as raw, _bar(archive.stat().st_size, f"extracting {archive.name}", progress) as bar, \
            tarfile.open(fileobj=_CountingReader(raw, bar), mode="r|*") as tf:
        for m in tf:
            kind = "dev" if m.isdev() else "sym" if m.issym() else "hard" if m.islnk() else "file"
            _check_member(m.name, dest, kind, m.linkname if kind in ("sym", "hard") else None)
            if has_filter:
                tf.extract(m, dest, filter="data")
            else:  # older Python: drop setuid/group/other-write bits ourselves
                m.mode = 0o755 if m.isdir() else (m.mode | 0o600) & 0o755
                tf.extract(m, dest)
    return dest_dir


def _state_path(root: Path, name: str) -> Path:
    return root / STATE_DIR / f"{name}.json"


def _save_state(root: Path, name: str, state: dict) -> None:
    atomic_write_text(_state_path(root, name), json.dumps(state, indent=2, sort_keys=True))


def tree_complete(src: sources.DatasetSource, root: Path) -> bool:
    """Every ``expected`` pattern of ``src`` matches something under ``root/extract_to``."""
    base = root / src.extract_to
    return base.is_dir() and all(any(base.glob(pat)) for pat in src.expected)


def _download_any(f, dest: Path, offline: bool, progress: bool, timeout: float):
    """Try each URL of ``f`` in turn; returns (path or None, reasons for the failures)."""
    if offline:
        return None, []
    reasons = [] if f.urls else ["no direct download URL"]
    for url in f.urls:
        try:
            return download_file(url, dest, f.sha256, f.md5, progress=progress, timeout=timeout), reasons
        except DownloadUnavailableError as exc:
            reasons.append(f"{url}: {getattr(exc, 'reason', exc)}")
    return None, reasons


def fetch(name, root, offline=None, keep_archive=True, progress=True, prepare=None, prepare_kwargs=None,
          force=False, timeout=60.0) -> Path:
    """Find (or download) → verify → extract → prepare dataset ``name`` under ``root``; returns its folder.

    Files downloaded by hand are used when found in ``root`` (or ``root/<extract_to>``). A state file
    ``root/.adlib/<name>.json`` makes a second call a no-op. ``offline`` (default: ``ADLIB_OFFLINE``)
    only verifies/extracts/prepares what is already there.
    """
    src = sources.get_source(name)
    root = Path(root).expanduser()
    offline = is_offline() if offline is None else offline
    prepare = src.prepare if prepare is None else (prepare or None)
    kwargs = dict(prepare_kwargs or {})
    out = root / src.dataset_dir
    sp = _state_path(root, src.name)
    state = json.loads(sp.read_text()) if sp.is_file() else {}
    if state.get("complete") and out.exists() and state.get("prepare_kwargs", {}) == kwargs and not force:
        return out
    state.update(dataset=src.name, complete=False)
    state.setdefault("files", {})
    extracted = state.get("extracted", [])
    used, missing = [], []
    for f in sorted(src.files, key=lambda f: not f.extract):  # archives first, then loose files
        places = list(dict.fromkeys([root / f.subdir / f.name, root / src.extract_to / f.name]))
        path = next((p for p in places if p.is_file()), None)
        if f.extract and not state.get("extracting") and tree_complete(src, root) and (
                path is None or (f.name in extracted and not force)):
            continue  # already unpacked by an earlier run, or extracted by hand
        if path is not None:
            digests = verify_file(path, f.sha256, f.md5, progress=progress)
        elif f.optional and missing:
            continue  # a required file is missing anyway: do not try the extras
        else:
            path, reasons = _download_any(f, places[0], offline, progress, timeout)
            if path is None:
                missing += [] if f.optional else [(f, reasons)]
                continue
            digests = file_digests(path)
        state["files"][f.name] = {"sha256": digests["sha256"], "verified": bool(f.sha256 or f.md5)}
        if f.extract:
            used.append(path)
            state["extracting"] = f.name
            _save_state(root, src.name, state)
            target = root / src.extract_to
            if f.top_dir and zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    if not all(n.startswith(f.top_dir + "/") for n in zf.namelist()):
                        target = target / f.top_dir
            extract_archive(path, target, progress=progress)
            extracted = [*dict.fromkeys([*extracted, f.name])]
            state.update(extracting=None, extracted=extracted)
            _save_state(root, src.name, state)
    if missing:
        raise DownloadUnavailableError(sources.manual_message(
            [f for f, _ in missing], root / missing[0][0].subdir, None if offline else [r for _, r in missing],
            src.page, src.manual, f"Then run `python {src.script} --root {root}` again", form=src.form,
            reason=f"offline mode, {OFFLINE_ENV}=1 or --offline" if offline else ""))
    if not tree_complete(src, root):
        missing = [p for p in src.expected if not any((root / src.extract_to).glob(p))]
        raise DownloadError(f"{src.title}: after extraction {root / src.extract_to} lacks {missing}; "
                            f"the archive may be incomplete or of another version")
    if prepare is not None:
        out = Path(prepare(root / src.extract_to, root, progress=progress, **kwargs))
    if not keep_archive:
        for p in used:
            p.unlink(missing_ok=True)
    state.update(complete=True, dataset_dir=str(out), prepare_kwargs=kwargs,
                 finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _save_state(root, src.name, state)
    return out
