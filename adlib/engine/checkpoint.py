"""Checkpoints: the method's trainable state, optimizer, scheduler, step, RNG states and loss history.

What is saved of the method is the method's choice: ``method.checkpoint_state()`` when it defines
one (e.g. RD leaves out its frozen teacher, which is rebuilt from its weights), else the full
``state_dict()``; loading goes through ``method.load_checkpoint_state(state)`` when defined, else
``load_state_dict(strict=True)``. Files are written atomically (temporary file, then rename) and
hold only types that ``torch.load(weights_only=True)`` accepts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

FORMAT = "adlib-checkpoint"
VERSION = 1
LAST = "last.pt"
BEST = "best.pt"


def method_state(method: nn.Module) -> dict:
    """The part of the method a checkpoint keeps (live tensors; see :func:`cpu_copy`)."""
    fn = getattr(method, "checkpoint_state", None)
    return dict(fn()) if callable(fn) else method.state_dict()


def load_method_state(method: nn.Module, state: dict) -> None:
    """Inverse of :func:`method_state`."""
    fn = getattr(method, "load_checkpoint_state", None)
    if callable(fn):
        fn(state)
    else:
        method.load_state_dict(state, strict=True)


def cpu_copy(obj):
    """Deep copy with every tensor cloned to the CPU (a snapshot that later training cannot change)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_checkpoint(path: str | os.PathLike, method: nn.Module, optimizer=None, scheduler=None, scaler=None,
                    step: int = 0, rng: dict | None = None, history: dict | None = None, **extra) -> Path:
    """Write a checkpoint; ``extra`` entries (validation history, fit arguments, ...) are stored as given."""
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "method": getattr(method, "name", type(method).__name__),
        "config": _plain(method.config_dict()) if hasattr(method, "config_dict") else {},
        "model": cpu_copy(method_state(method)),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "step": int(step),
        "rng": rng,
        "history": history or {},
        **extra,
    }
    return atomic_save(ckpt, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``: no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an adlib checkpoint (no format={FORMAT!r} entry)")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(f"{path} has checkpoint version {ckpt['version']}; this adlib reads up to {VERSION}")
    return ckpt


def restore(method: nn.Module, ckpt: dict, optimizer=None, scheduler=None, scaler=None) -> int:
    """Load a checkpoint's states into live objects; returns its step."""
    load_method_state(method, ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt.get("scaler") is not None:
        scaler.load_state_dict(ckpt["scaler"])
    return int(ckpt["step"])


def load_weights(method: nn.Module, path: str | os.PathLike, which: str = "model") -> dict:
    """Load only the method state of a checkpoint file (e.g. ``best.pt`` for evaluation); returns the checkpoint."""
    ckpt = load_checkpoint(path)
    load_method_state(method, ckpt[which])
    return ckpt


def _plain(obj):
    """Config values as weights_only-safe plain types (tuples → lists, other objects → str)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)
