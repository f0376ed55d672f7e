"""Checkpoints: the method's trainable state, optimizer, scheduler, step, RNG states and loss history.

What is saved of the method is the method's choice: ``method.checkpoint_state()`` (every
:class:`adlib.methods.AnomalyMethod` has one: all but its frozen pretrained parts, rebuilt from
their weights file); loading goes through ``method.load_checkpoint_state(state)``. Files are
written atomically (:mod:`adlib.fileio`) and hold only types that ``torch.load(weights_only=True)``
accepts. :class:`Checkpointer` is what :func:`adlib.engine.fit` uses: ``last.pt`` / ``best.pt`` in
one folder, and resuming with a check of the training settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from adlib.fileio import atomic_torch_save, torch_load

from .seed import rng_state, set_rng_state

FORMAT = "adlib-checkpoint"
VERSION = 1
LAST = "last.pt"
BEST = "best.pt"


def method_state(method: nn.Module) -> dict:
    """The part of the method a checkpoint keeps (live tensors; see :func:`cpu_copy`)."""
    return dict(method.checkpoint_state())


def load_method_state(method: nn.Module, state: dict) -> None:
    """Inverse of :func:`method_state`."""
    method.load_checkpoint_state(state)


def cpu_copy(obj):
    """Deep copy with every tensor cloned to the CPU (a snapshot that later training cannot change)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


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
    return atomic_torch_save(ckpt, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``: no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    hint = "Delete it (the run then starts over, or evaluates another checkpoint) or pass the right file"
    ckpt = torch_load(path, ValueError, hint, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an adlib checkpoint (no format={FORMAT!r} entry). {hint}")
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


@dataclass
class Resumed:
    """What :meth:`Checkpointer.resume` read back: the step to continue from and the run's records."""

    step: int
    history: dict
    val_history: list
    best: dict
    train_s: float
    best_state: dict | None = field(default=None, repr=False)


class Checkpointer:
    """The checkpoints of one :func:`adlib.engine.fit` run: ``last.pt`` (and ``best.pt``) in
    ``directory`` (None: nothing is written), and resuming from one with the same ``fit_args``."""

    def __init__(self, directory, fit_args: dict):
        self.dir = Path(directory) if directory is not None else None
        self.fit_args = fit_args

    @property
    def last_path(self) -> Path | None:
        return self.dir / LAST if self.dir is not None else None

    def resume(self, resume, method: nn.Module, optimizer, scheduler, scaler) -> Resumed | None:
        """``resume=True`` (``last.pt`` of the folder) or a path: load every state if the file exists
        (RNG states included) and return the records; None when there is nothing to resume."""
        if not resume:
            return None
        path = Path(resume) if not isinstance(resume, bool) else self.last_path
        if path is None:
            raise ValueError("resume=True needs checkpoint_dir (or pass resume=<path to last.pt>)")
        if not path.is_file():
            return None
        ck = load_checkpoint(path)
        saved = ck.get("fit_args", {})
        diff = {k: (saved.get(k), v) for k, v in self.fit_args.items() if saved.get(k) != v}
        if diff:
            raise ValueError(f"cannot resume {path}: it was trained with different settings (saved, now): {diff}")
        step = restore(method, ck, optimizer, scheduler, scaler)
        out = Resumed(step, ck["history"], ck.get("val_history", []), ck.get("best", {"step": None, "value": None}),
                      float(ck.get("train_s", 0.0)))
        if out.best.get("step") is not None and (path.parent / BEST).is_file():
            out.best_state = load_checkpoint(path.parent / BEST)["model"]
        set_rng_state(ck["rng"])
        return out

    def save_last(self, method: nn.Module, optimizer, scheduler, scaler, *, step: int, history: dict,
                  val_history: list, best: dict, train_s: float) -> None:
        """Write ``last.pt`` (with the current RNG states), when there is a folder."""
        if self.dir is not None:
            save_checkpoint(self.dir / LAST, method, optimizer, scheduler, scaler, step=step, rng=rng_state(),
                            history=history, val_history=val_history, best=best, fit_args=self.fit_args,
                            train_s=train_s)

    def save_best(self, method: nn.Module, *, step: int, best: dict) -> None:
        """Write ``best.pt`` (the method state only), when there is a folder."""
        if self.dir is not None:
            save_checkpoint(self.dir / BEST, method, step=step, best=dict(best))


def _plain(obj):
    """Config values as weights_only-safe plain types (tuples → lists, other objects → str)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)
