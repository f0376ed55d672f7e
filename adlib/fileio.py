"""Atomic file writes: write a temporary file in the target's folder, then rename it over the target.

A reader (or a crash) never sees a partial file: either the old file or the complete new one.
On failure the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

FILE_MODE = 0o644  # mkstemp creates 0600; written files are meant to be shared


def atomic_write(path: str | os.PathLike, write_fn: Callable[[Path], object], mode: int | None = FILE_MODE) -> Path:
    """Call ``write_fn(tmp)`` to write a temporary file beside ``path``, then rename it to ``path``.

    ``write_fn`` receives the temporary file's path (which already exists, empty) and must write
    the whole content to it. ``mode``: the permissions the file gets (``None``: mkstemp's 0600).
    Parent folders are created. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(Path(tmp))
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_copy(src: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy the file ``src`` to ``path`` atomically."""
    import shutil

    return atomic_write(path, lambda tmp: shutil.copyfile(src, tmp))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` atomically."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
