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


def torch_load(path: str | os.PathLike, error: type[Exception] = ValueError, hint: str = "", map_location="cpu"):
    """``torch.load(path, weights_only=True)``; a file that cannot be read raises one ``error`` naming it.

    The message says why (empty, truncated or damaged, not a checkpoint, or holding Python objects,
    which are refused: no code from a file is ever run) and ends with ``hint`` (what to do).
    """
    import re

    import torch

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise error(f"cannot read {path}: the file is empty (an interrupted download or copy?). {hint}".rstrip())
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch raises RuntimeError, EOFError, UnpicklingError, ...
        text = str(exc)
        code = re.search(r"GLOBAL ([\w.]+)", text)
        if code:
            why = (f"it holds Python objects ({code.group(1)}) besides tensors; they are refused, since loading them "
                   "could run code (weights_only=True)")
        elif "Weights only load failed" in text or "central directory" in text or isinstance(exc, EOFError):
            why = "it is truncated, damaged or not a PyTorch file"
        else:
            first = (text.splitlines() or [""])[0][:200]
            why = f"it is damaged or not a PyTorch checkpoint ({type(exc).__name__}: {first})"
        raise error(f"cannot read {path}: {why}. {hint}".rstrip()) from None
