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
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from adlib.fileio import atomic_write_text

from . import prepared, sources
from .archive import UnsafeArchiveError, extract_archive  # noqa: F401  (re-exported)
from .errors import DownloadError

CHUNK = 1 << 20
OFFLINE_ENV = "ADLIB_OFFLINE"
STATE_DIR = ".adlib"
USER_AGENT = "adlib-downloader/0.1 (python urllib)"


class DownloadUnavailableError(DownloadError):
    """The file cannot be fetched (offline, unreachable, HTTP error): download it by hand."""


class ChecksumError(DownloadError):
    """A file does not match its published checksum (kept as ``<name>.corrupt``)."""


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


def _open(url: str, offset: int, timeout: float, if_range: str | None = None):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if if_range:
            headers["If-Range"] = if_range  # the server sends the whole file if it changed
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _sidecar(part: Path) -> Path:
    """``<dest>.part.json``: what the server said about the file when the ``.part`` was started."""
    return part.with_name(part.name + ".json")


def _validators(headers) -> dict:
    """The strong ETag and the Last-Modified date of a response (what ``If-Range`` may carry)."""
    etag, modified = headers.get("ETag"), headers.get("Last-Modified")
    return {k: v for k, v in (("etag", etag if etag and not etag.startswith("W/") else None),
                              ("last_modified", modified)) if v}


def _read_sidecar(part: Path) -> dict:
    try:
        meta = json.loads(_sidecar(part).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _content_range(resp) -> tuple[int, int, int] | None:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", (resp.headers.get("Content-Range") or "").strip())
    return tuple(map(int, m.groups())) if m else None


def _resumable(resp, offset: int, meta: dict) -> bool:
    """A 206 answer continues our ``.part``: it starts at ``offset``, runs to the end of a file of
    the recorded size, and carries the recorded ETag (when the server sends one)."""
    rng, length = _content_range(resp), resp.headers.get("Content-Length")
    if rng is None or rng[0] != offset or rng[1] != rng[2] - 1 or rng[0] > rng[1]:
        return False
    if length is not None and length.isdigit() and int(length) != rng[1] - rng[0] + 1:
        return False
    if meta.get("length") not in (None, rng[2]):
        return False
    now = _validators(resp.headers)
    return not any(now.get(k) and meta.get(k) and now[k] != meta[k] for k in ("etag", "last_modified"))


def _stream(url: str, part: Path, progress: bool, timeout: float, verifiable: bool = False) -> None:
    """Download ``url`` into ``part``, resuming it only when the server proves it is the same file
    (``If-Range`` with the validator recorded in the sidecar) or a checksum will tell (``verifiable``)."""
    offset = part.stat().st_size if part.exists() else 0
    meta = _read_sidecar(part) if offset else {}
    validator = meta.get("etag") or meta.get("last_modified")
    if offset and validator is None and not verifiable:
        offset = 0  # nothing would tell a changed remote file: splicing two versions is worse than starting over
    try:
        resp = _open(url, offset, timeout, validator)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        rng = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
        e.close()
        if rng and int(rng.group(1)) == offset and meta.get("length") in (None, offset):
            return  # the .part is already complete
        offset, resp = 0, _open(url, 0, timeout)
    if resp.status == 206 and not (offset and _resumable(resp, offset, meta)):
        resp.close()  # a partial answer we cannot use (another range, size or version): start over
        offset, resp = 0, _open(url, 0, timeout)
    if resp.status != 206:
        offset = 0  # the whole file (changed, or the server ignored Range)
    if resp.status not in (200, 206) or (resp.status == 206 and not offset):
        resp.close()
        raise ValueError(f"the server answered HTTP {resp.status} {resp.reason!r} to a plain request for {url}")
    with resp:
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        if not offset:
            atomic_write_text(_sidecar(part), json.dumps({"url": url, "length": total, **_validators(resp.headers)}))
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
        if total is not None and got < total - offset:
            raise _Interrupted(f"connection closed after {got} of {length} bytes")


def download_file(url, dest, sha256=None, md5=None, resume=True, progress=True, timeout=60.0,
                  retries=2) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part`` (resumed with HTTP Range + If-Range), verify, rename.

    A ``.part`` is resumed only if the server confirms the file is unchanged (the ETag or
    Last-Modified recorded in ``dest.part.json``), or if a checksum will catch a spliced file.

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
        _sidecar(part).unlink(missing_ok=True)
    for attempt in range(retries + 1):
        try:
            _stream(url, part, progress, timeout, verifiable=bool(sha256 or md5))
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise unavailable(f"interrupted: {exc}; the partial file {part} is kept and resumed next time")
            time.sleep(min(2.0 ** attempt, 10.0) * 0.5)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            raise unavailable(f"{type(exc).__name__}: {exc}") from exc
    _sidecar(part).unlink(missing_ok=True)
    if sha256 or md5:
        verify_file(part, sha256, md5, corrupt_as=dest.with_name(dest.name + ".corrupt"), progress=progress)
    os.replace(part, dest)
    return dest


def _load_state(sp: Path) -> dict:
    """The download record (``{}`` if none; an unreadable one is set aside and redone)."""
    if not sp.is_file():
        return {}
    try:
        state = json.loads(sp.read_text())
        if isinstance(state, dict):
            return state
    except (OSError, ValueError):
        pass
    warnings.warn(f"{sp} is unreadable; it is kept as {sp.name}.bad and the dataset is checked again")
    os.replace(sp, sp.with_name(sp.name + ".bad"))
    return {}


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
    state = _load_state(sp)
    listed = prepare is None and out.is_dir() and prepared.read_manifest(out) is not None
    damaged = listed and prepared.problem(out) is not None  # extracted earlier, files gone since: redo
    if state.get("complete") and out.exists() and state.get("prepare_kwargs", {}) == kwargs and not force \
            and not damaged:
        if prepare is None and not listed:
            prepared.write_manifest(out, dataset=src.name)  # recorded complete by an older adlib
        return out
    state.update(dataset=src.name, complete=False)
    old_list = None  # the extracted tree's file list, set aside while extracting
    state.setdefault("files", {})
    extracted = state.get("extracted", [])
    used, missing = [], []
    for f in sorted(src.files, key=lambda f: not f.extract):  # archives first, then loose files
        places = list(dict.fromkeys([root / f.subdir / f.name, root / src.extract_to / f.name]))
        path = next((p for p in places if p.is_file()), None)
        if f.extract and not state.get("extracting") and not damaged and tree_complete(src, root) and (
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
            if old_list is None:  # no file list while the tree is being written
                old_list = (prepared.read_manifest(out) or {}).get("files", {})
                (out / prepared.MANIFEST).unlink(missing_ok=True)
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
    elif old_list is not None or prepared.read_manifest(out) is None:
        prepared.write_manifest(out, dataset=src.name, keep_missing=old_list)
    if not keep_archive:
        for p in used:
            p.unlink(missing_ok=True)
    state.update(complete=True, dataset_dir=str(out), prepare_kwargs=kwargs,
                 finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _save_state(root, src.name, state)
    return out
