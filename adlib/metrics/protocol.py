"""Metric results that carry the protocol that produced them.

Anomaly-detection numbers disagree across papers mostly because they are computed differently;
every adlib metric therefore returns a :class:`MetricResult` whose ``protocol`` says how.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch


class MetricError(ValueError):
    """A metric cannot be computed from the given inputs (one class only, NaN, shapes)."""


@dataclass
class MetricResult:
    """A metric value (float, or dict for several FPR limits) with its protocol and breakdowns."""

    name: str
    value: Any  # None: unavailable, with the reason in protocol["unavailable"]
    protocol: dict = field(default_factory=dict)
    per_defect: dict = field(default_factory=dict)
    curve: dict | None = None  # down-sampled curve arrays (lists), e.g. {"fpr": [...], "pro": [...]}

    def __float__(self) -> float:
        if self.value is None:
            raise MetricError(f"{self.name} is unavailable: {self.protocol.get('unavailable', 'no value')}")
        if isinstance(self.value, dict):
            raise TypeError(f"{self.name} holds several values {list(self.value)}; index .value")
        return float(self.value)

    def to_dict(self, with_curve: bool = False) -> dict:
        d = asdict(self)
        if not with_curve:
            d.pop("curve")
        return d


def downsample_curve(x: torch.Tensor, y: torch.Tensor, max_points: int = 1000) -> dict:
    """At most ``max_points`` evenly spaced points of a curve, as plain lists for JSON."""
    n = int(x.numel())
    idx = torch.linspace(0, n - 1, steps=min(n, max_points)).round().long().to(x.device)
    return {"x": x[idx].double().cpu().tolist(), "y": y[idx].double().cpu().tolist()}


def as_tensor(x, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """numpy/list/tensor → tensor on ``device`` (kept where it is if None)."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, (list, tuple)) and x and isinstance(x[0], torch.Tensor):
        t = torch.stack([v.detach() for v in x])
    else:
        t = torch.as_tensor(np.asarray(x))
    return t.to(device) if device is not None else t


def as_maps(x, name: str, device=None, check_finite: bool = True) -> torch.Tensor:
    """N×H×W (or N×1×H×W, or one H×W) tensor; NaN/inf raise a :class:`MetricError` (if checked)."""
    t = as_tensor(x, name, device)
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise MetricError(f"{name} must be N×H×W (or N×1×H×W), got shape {tuple(t.shape)}")
    if check_finite and t.is_floating_point() and not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).flatten(1).any(1).nonzero().flatten().tolist()
        raise MetricError(f"{name} contains NaN or inf values (images {bad[:10]})")
    return t


def as_scores(x, name: str, device=None) -> torch.Tensor:
    """A 1-D finite score vector."""
    t = as_tensor(x, name, device).flatten()
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise MetricError(f"{name} contains NaN or inf values (positions {(~torch.isfinite(t)).nonzero().flatten()[:10].tolist()})")
    return t
