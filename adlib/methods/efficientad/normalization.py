"""EfficientAD's three normalisations (Batzner et al. §3.2–3.4; nelson1425 ``efficientad.py``), also MHKD's.

- :func:`teacher_channel_stats`: μ_c = mean over training images of each image's spatial channel
  mean; σ_c = √(mean over images of the spatial mean of (F_t − μ)²), a second pass. Every image
  weighs the same whatever the batch size (with equal-size images: the population std of all pixels).
- :func:`exact_quantile`: ``torch.quantile``'s linear interpolation through ``kthvalue``
  (``torch.quantile`` refuses more than 2^24 elements: a batch of 11 at 64²×384).
- :func:`hard_mining_loss`: L_hard = mean{d ≥ Q_q(d)} over the whole B×C×H×W tensor (q = 0.999).
- :class:`MapNormalizer`: φ(A) = 0.1·(A − q_a)/(q_b − q_a) with q_a = Q_0.9, q_b = Q_0.995 over all
  pixels of all maps of a **held-out** normal set (EfficientAD Eq. in §3.4; MHKD §III.C, Eq. 9's φ).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MapNormalizer", "exact_quantile", "hard_mining_loss", "teacher_channel_stats"]


def exact_quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile of all elements of ``x`` with linear interpolation (= ``torch.quantile``), any size."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    flat = x.detach().flatten().float()
    n = flat.numel()
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    v_lo = flat.kthvalue(lo + 1).values
    v_hi = flat.kthvalue(hi + 1).values if hi != lo else v_lo
    return v_lo + (pos - lo) * (v_hi - v_lo)


def hard_mining_loss(d: torch.Tensor, q: float = 0.999) -> torch.Tensor:
    """Mean of the elements of ``d`` at or above its ``q`` quantile (EfficientAD's hard feature loss)."""
    return d[d >= exact_quantile(d, q)].mean()


@torch.no_grad()
def teacher_channel_stats(features) -> tuple[torch.Tensor, torch.Tensor]:
    """``(μ, σ)`` (1×C×1×1, float32) of teacher outputs; ``features`` is a callable returning an
    iterable of B×C×H×W batches, called twice (the two passes)."""
    total, n = None, 0
    for f in features():
        f = f.float()
        s = f.mean(dim=(2, 3)).sum(0)
        total, n = (s if total is None else total + s), n + f.shape[0]
    if not n:
        raise ValueError("teacher statistics need at least one training image")
    mu = (total / n)[None, :, None, None]
    total = None
    for f in features():
        s = ((f.float() - mu) ** 2).mean(dim=(2, 3)).sum(0)
        total = s if total is None else total + s
    return mu, (total / n).sqrt()[None, :, None, None]


class MapNormalizer(nn.Module):
    """q_a, q_b (persistent buffers, NaN until :meth:`fit`) and φ(A) = scale·(A − q_a)/(q_b − q_a)."""

    def __init__(self, q_start: float = 0.9, q_end: float = 0.995, scale: float = 0.1):
        super().__init__()
        self.q_start, self.q_end, self.scale = q_start, q_end, scale
        self.register_buffer("q_a", torch.tensor(float("nan")))
        self.register_buffer("q_b", torch.tensor(float("nan")))

    @property
    def fitted(self) -> bool:
        return bool(torch.isfinite(self.q_a)) and bool(torch.isfinite(self.q_b))

    @torch.no_grad()
    def fit(self, maps: torch.Tensor) -> "MapNormalizer":
        """Quantiles over every pixel of every map (N×1×h×w at the feature grid, not upsampled)."""
        self.q_a.copy_(exact_quantile(maps, self.q_start))
        self.q_b.copy_(exact_quantile(maps, self.q_end))
        return self

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.scale * (a - self.q_a) / (self.q_b - self.q_a)

    def extra_repr(self) -> str:
        return f"q_start={self.q_start}, q_end={self.q_end}, q_a={float(self.q_a):.4g}, q_b={float(self.q_b):.4g}"
