"""Safe archive extraction: adlib writes every member itself and never writes through a link.

Rules (dataset archives need none of the tricks archives allow):

* names: no absolute path (``/x``, ``C:x``, ``\\\\host\\x``), no ``..``, no NUL byte; ``\\`` counts
  as a separator (a Windows-made archive unpacks into folders, never into ``a\\b`` names);
* files and folders are created below the destination after ``lstat`` showed that no folder on
  the way is a symlink, files via a temporary file renamed into place (never written in place,
  so an existing symlink or hard link is replaced, not followed);
* links are never created: a symlink or hard link to a regular file of the same archive becomes a
  copy of it (symlinks resolved by name inside the archive, following other symlink members,
  never via the disk, so no ``PATH_MAX`` trick applies); links to folders, leaving the archive,
  dangling or looping, and device files or fifos raise :class:`UnsafeArchiveError` naming the member.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DownloadError

CHUNK = 1 << 20
MAX_HOPS = 40  # symlinks followed while resolving one link (the kernel's limit)
_ABSOLUTE = re.compile(r"^(?:[\\/]|[A-Za-z]:)")
_SEP = re.compile(r"[\\/]+")


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the destination, or is a link/device file adlib refuses."""


_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, RuntimeError, OSError)


class _Damaged(Exception):
    """Reading the archive failed (told apart from a failure to write the member)."""


class _Reader:
    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        try:
            return self.f.read(n)
        except _READ_ERRORS as exc:
            raise _Damaged(f"{type(exc).__name__}: {exc}") from exc


def _bar(total, desc, progress):
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None if progress else True, leave=False)


class _Extractor:
    """Writes members below ``dest`` (a resolved path); links are materialised by :meth:`finish`."""

    def __init__(self, archive: Path, dest: str):
        self.archive, self.dest = archive, dest
        self.kinds: dict[tuple[str, ...], object] = {}  # parts -> "file" | "dir" | ("sym"|"hard", target)
        self.links: list[tuple[str, tuple[str, ...], int]] = []  # (member, parts, mode) in archive order

    def unsafe(self, member: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"{self.archive.name}: refusing to extract member {member!r}: {why}. Nothing was written outside "
            f"{self.dest}. This is not a plain dataset archive: delete {self.archive} and download it again "
            "(or check it and extract it by hand)")

    def parts(self, member: str, name: str, what: str = "path") -> tuple[str, ...]:
        if "\x00" in name:
            raise self.unsafe(member, f"NUL byte in its {what}")
        if _ABSOLUTE.match(name):
            raise self.unsafe(member, f"absolute {what} {name!r}")
        parts = tuple(p for p in _SEP.split(name) if p not in ("", "."))
        if ".." in parts:
            raise self.unsafe(member, f"'..' in its {what} {name!r}")
        return parts

    # ---- names inside the archive
    def _claim(self, member: str, parts: tuple[str, ...], kind) -> None:
        """Record ``parts`` as ``kind``; its folders must not be links or files of this archive."""
        for i in range(1, len(parts)):
            k = self.kinds.get(parts[:i])
            if isinstance(k, tuple):
                raise self.unsafe(member, f"it would be written through the link member {'/'.join(parts[:i])!r}")
            if k == "file":
                raise DownloadError(f"{self.archive.name}: member {member!r} needs {'/'.join(parts[:i])!r} to be a "
                                    "folder, but the archive has a file there; the archive is damaged")
            self.kinds[parts[:i]] = "dir"
        if isinstance(kind, tuple) and self.kinds.get(parts) == "dir":
            raise self.unsafe(member, "a link member over a folder of the archive")
        self.kinds[parts] = kind

    def resolve(self, member: str, parts: tuple[str, ...]) -> tuple[str, ...]:
        """The regular-file member ``parts`` names, following link members by name only."""
        hops, todo, out = 0, list(parts), []
        while todo:
            p = todo.pop(0)
            if p == "..":
                if not out:
                    raise self.unsafe(member, "its link target leaves the archive")
                out.pop()
                continue
            out.append(p)
            k = self.kinds.get(tuple(out))
            if isinstance(k, tuple):
                hops += 1
                if hops > MAX_HOPS:
                    raise self.unsafe(member, f"more than {MAX_HOPS} links to follow (a loop?)")
                kind, target = k
                if kind == "sym":
                    out.pop()  # relative to the link's folder
                    if _ABSOLUTE.match(target):
                        raise self.unsafe(member, f"link to the absolute path {target!r}")
                    todo = [q for q in _SEP.split(target) if q not in ("", ".")] + todo
                else:  # a hard link names its target from the archive's top
                    out, todo = [], list(target) + todo
        k = self.kinds.get(tuple(out))
        if k == "dir":
            raise self.unsafe(member, f"link to the folder {'/'.join(out)!r} (adlib copies links to files only)")
        if k != "file":
            raise self.unsafe(member, f"link to {'/'.join(out)!r}, which is not a file of this archive")
        return tuple(out)

    # ---- the disk
    def folder(self, member: str, parts: tuple[str, ...]) -> str:
        """``dest/parts`` as a real folder, created as needed; refuses a symlink or file on the way."""
        path = self.dest
        for p in parts:
            path = os.path.join(path, p)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                try:
                    os.mkdir(path, 0o755)
                except OSError as exc:
                    raise self.cannot(member, exc) from exc
                continue
            if stat.S_ISLNK(st.st_mode):
                raise self.unsafe(member, f"{path} is a symlink (adlib never writes through one; delete it)")
            if not stat.S_ISDIR(st.st_mode):
                raise DownloadError(f"{self.archive.name}: member {member!r} needs the folder {path}, but a file is "
                                    "there; delete it (or extract into an empty folder) and run again")
        return path

    def cannot(self, member: str, exc: OSError) -> DownloadError:
        return DownloadError(f"{self.archive.name}: cannot write member {member!r} below {self.dest}: "
                             f"{type(exc).__name__}: {exc}. Free space or fix the folder, then run again")

    def write(self, member: str, parts: tuple[str, ...], src, mode: int) -> None:
        """Copy the stream ``src`` to ``dest/parts`` through a temporary file renamed into place."""
        folder, tmp = self.folder(member, parts[:-1]), None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".adlib-", suffix=".part", dir=folder)
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(_Reader(src), f, CHUNK)  # read errors: _Damaged, not OSError
                os.fchmod(f.fileno(), 0o755 if mode & 0o100 else 0o644)
            os.replace(tmp, os.path.join(folder, parts[-1]))
        except OSError as exc:
            raise self.cannot(member, exc) from exc
        finally:
            if tmp is not None and os.path.lexists(tmp):
                os.unlink(tmp)

    # ---- members
    def add_dir(self, member: str, name: str) -> None:
        parts = self.parts(member, name)
        if parts:
            self._claim(member, parts, "dir")
            self.folder(member, parts)

    def add_file(self, member: str, name: str, src, mode: int) -> None:
        parts = self.parts(member, name)
        if not parts:
            raise self.unsafe(member, "a file without a name")
        self._claim(member, parts, "file")
        self.write(member, parts, src, mode)

    def add_link(self, member: str, name: str, target: str, kind: str, mode: int = 0o644) -> None:
        parts = self.parts(member, name)
        if not parts:
            raise self.unsafe(member, "a link without a name")
        if kind == "sym":
            if "\x00" in target or _ABSOLUTE.match(target):
                raise self.unsafe(member, f"link to the absolute path or bad name {target!r}")
            self._claim(member, parts, ("sym", target))
        else:
            self._claim(member, parts, ("hard", self.parts(member, target, "link target")))
        self.links.append((member, parts, mode))

    def finish(self) -> None:
        """Materialise every link as a copy of the archive file it names (checked by name only)."""
        for member, parts, mode in self.links:
            if not isinstance(self.kinds.get(parts), tuple):
                continue  # a later member of the same name replaced the link
            src = self.resolve(member, parts)
            path = os.path.join(self.folder(member, src[:-1]), src[-1])
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError as exc:
                raise self.cannot(member, exc) from exc
            with os.fdopen(fd, "rb") as f:
                self.write(member, parts, f, mode)


def _extract_zip(ex: _Extractor, zf: zipfile.ZipFile, bar) -> None:
    for info in zf.infolist():
        member = info.orig_filename
        ex.parts(member, member)  # NUL bytes are visible in orig_filename only
        mode = info.external_attr >> 16
        if info.is_dir() or member.endswith("\\"):
            ex.add_dir(member, info.filename)
        elif stat.S_ISLNK(mode):
            ex.add_link(member, info.filename, zf.read(info).decode("utf-8", "replace"), "sym")
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise ex.unsafe(member, "device file, fifo or socket")
        else:
            with zf.open(info) as src:
                ex.add_file(member, info.filename, src, mode)
        bar.update(info.file_size)


def _extract_tar(ex: _Extractor, tf: tarfile.TarFile) -> None:
    for m in tf:
        if m.isdir():
            ex.add_dir(m.name, m.name)
        elif m.isreg():
            ex.add_file(m.name, m.name, tf.extractfile(m), m.mode)
        elif m.issym() or m.islnk():
            ex.add_link(m.name, m.name, m.linkname, "sym" if m.issym() else "hard", m.mode)
        else:
            raise ex.unsafe(m.name, "device file, fifo or other special member")


class _CountingReader:
    def __init__(self, f, bar):
        self.f, self.bar = f, bar

    def read(self, n=-1):
        b = self.f.read(n)
        self.bar.update(len(b))
        return b


def extract_archive(archive, dest_dir, progress=True) -> Path:
    """Safely extract a .tar/.tar.gz/.tgz/.tar.xz/.tar.bz2/.zip into ``dest_dir``; returns it.

    See the module docstring for what is refused (:class:`UnsafeArchiveError`); a damaged or
    truncated archive raises :class:`DownloadError` naming it.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    ex = _Extractor(archive, os.path.realpath(dest_dir))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                need, free = sum(i.file_size for i in zf.infolist()), shutil.disk_usage(ex.dest).free
                if need > free:
                    raise DownloadError(f"{archive.name} unpacks to {need / 1e9:.2f} GB but {ex.dest} has "
                                        f"{free / 1e9:.2f} GB free; free some space and run again")
                with _bar(need, f"extracting {archive.name}", progress) as bar:
                    _extract_zip(ex, zf, bar)
        elif tarfile.is_tarfile(archive):
            with open(archive, "rb") as raw, _bar(archive.stat().st_size, f"extracting {archive.name}",
                                                  progress) as bar, \
                    tarfile.open(fileobj=_CountingReader(raw, bar), mode="r|*") as tf:
                _extract_tar(ex, tf)
        else:
            raise DownloadError(f"not a tar or zip archive: {archive}; delete it and download it again")
        ex.finish()
    except (_Damaged, *_READ_ERRORS) as exc:
        why = str(exc) if isinstance(exc, _Damaged) else f"{type(exc).__name__}: {exc}"
        raise DownloadError(f"{archive} is damaged, truncated or encrypted ({why}); "
                            "delete it and download it again") from exc
    return dest_dir
