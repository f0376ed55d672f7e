"""Training state shared by :func:`adlib.engine.fit` and its hooks: the result, the hook context,
optimizer configuration and the loss history."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .env import autocast
from .batches import StepSampler, steps_per_epoch


class StopFit(Exception):
    """Raise from a callback to end training early (history kept, last checkpoint written)."""


@dataclass
class FitContext:
    """What the ``method.on_fit_start(ctx)`` / ``method.on_fit_end(ctx)`` hooks receive."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    total_steps: int
    steps_per_epoch: int
    batch_size: int
    train_data: object
    val_data: object
    _source: Callable = field(repr=False)
    calibration_data: object = None  # a held-out normal split for map normalisation / thresholds (FitData.calibration)

    def train_batches(self):
        """One pass over the training set in order (no shuffle), batches on the device."""
        n = len(self.train_data)
        return self._source(StepSampler(n, self.batch_size, steps_per_epoch(n, self.batch_size), shuffle=False))

    def autocast(self):
        return autocast(self.device, self.amp_dtype)


@dataclass
class FitResult:
    """Loss history (``{term: [float per step]}``), validation records, timings and the choices made."""

    history: dict = field(repr=False)
    val_history: list = field(repr=False)
    steps: int
    steps_per_epoch: int
    batch_size: int
    seed: int
    device: str
    amp: str | None
    channels_last: bool
    on_gpu_cache: bool
    ckpt_selection: str
    selection_metric: str | None
    best_step: int | None
    best_value: float | None
    train_s: float
    wall_s: float
    images_per_s: float | None
    resumed_from_step: int | None = None
    checkpoint_path: str | None = None
    final_state: dict | None = field(default=None, repr=False)  # last-step state when the best one was loaded
    extra_protocol: dict = field(default_factory=dict)

    @property
    def epochs(self) -> float:
        return self.steps / self.steps_per_epoch

    def losses(self, term: str = "loss") -> list[float]:
        return self.history[term]

    def loss_curve(self, windows: int = 20) -> dict:
        """Per loss term, what a results file keeps of its per-step history: the mean of each of ``windows``
        equal runs of steps (fewer when there are fewer steps) and how many steps it was exactly 0 (a hinge at
        rest, or a divergence between identical inputs: DM-GRD's L_OT / L_Con)."""
        out = {}
        for term, values in self.history.items():
            if values:
                arr = np.asarray(values, dtype=np.float64)
                out[term] = {"steps": len(arr),
                             "window_means": [float(c.mean()) for c in np.array_split(arr, min(windows, len(arr)))],
                             "zero_steps": int((arr == 0).sum())}
        return out

    @property
    def protocol(self) -> dict:
        return {"ckpt_selection": self.ckpt_selection, "selection_metric": self.selection_metric,
                "best_step": self.best_step, "steps": self.steps, "epochs": round(self.epochs, 4),
                "batch_size": self.batch_size, "seed": self.seed, "device": self.device, "amp": self.amp,
                "channels_last": self.channels_last, "on_gpu_cache": self.on_gpu_cache, **self.extra_protocol}

    def summary(self, name: str = "") -> str:
        """One line for logs and saved notebooks (instead of a progress bar): steps, time, loss first → last."""
        loss = self.history.get("loss") or []
        trend = f", loss {loss[0]:.3f} → {loss[-1]:.3f}" if loss else ""
        head = f"fit {name}: " if name else "fit: "
        return (f"{head}{self.steps} steps ({self.epochs:g} epochs, batch {self.batch_size}) in {self.train_s:.1f} s "
                f"on {self.device}{trend}")

    @property
    def timings(self) -> dict:
        return {"train_s": round(self.train_s, 3), "fit_wall_s": round(self.wall_s, 3),
                "train_images_per_s": self.images_per_s}


def configure_optimizer(method, total: int, spe: int):
    """``configure_optimizer`` may take ``total_steps``/``steps_per_epoch`` and return an optimizer,
    ``(optimizer, scheduler)`` or ``{"optimizer", "scheduler", "interval": "step"|"epoch"}``."""
    fn = method.configure_optimizer
    params = inspect.signature(fn).parameters
    out = fn(**{k: v for k, v in (("total_steps", total), ("steps_per_epoch", spe)) if k in params})
    if isinstance(out, torch.optim.Optimizer):
        return out, None, "step"
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return out[0], out[1], "step"
    if isinstance(out, dict):
        interval = out.get("interval", "step")
        if interval not in ("step", "epoch"):
            raise ValueError(f"scheduler interval must be 'step' or 'epoch', got {interval!r}")
        return out["optimizer"], out.get("scheduler"), interval
    raise TypeError(f"configure_optimizer returned {type(out).__name__}; expected an Optimizer, a pair or a dict")


def dataset_labels(dataset) -> list[int]:
    labels = getattr(dataset, "labels", None)
    return [int(v) for v in labels] if labels is not None else [int(dataset[i]["label"]) for i in range(len(dataset))]


def metric_name(metric) -> str:
    return metric if isinstance(metric, str) else ("+".join(metric) if isinstance(metric, (list, tuple))
                                                   else getattr(metric, "__name__", "custom"))


def flush_losses(pending: list, history: dict) -> dict:
    """Move the pending per-step loss tensors into ``history`` as floats (one sync); returns the last step's."""
    n_before = len(history.get("loss", []))
    keys = list(dict.fromkeys(k for p in pending for k in p))
    for k in keys:
        lst = history.setdefault(k, [math.nan] * n_before)
        lst += [math.nan] * (n_before - len(lst))
        vals = [p.get(k) for p in pending]
        got = torch.stack([v for v in vals if v is not None]).cpu().tolist()
        it = iter(got)
        lst += [next(it) if v is not None else math.nan for v in vals]
    for k, lst in history.items():
        lst += [math.nan] * (n_before + len(pending) - len(lst))
    bad = [i for i, v in enumerate(history["loss"][n_before:]) if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"the loss is not finite at step {n_before + bad[0]} ({history['loss'][n_before + bad[0]]})")
    pending.clear()
    return {k: v[-1] for k, v in history.items()}
