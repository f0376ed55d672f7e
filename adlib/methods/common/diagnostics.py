"""Is the mechanism working? Two numbers a notebook prints after training a distillation method.

- :func:`input_dependence` — does the student's output depend on its input? Per level, the spread of
  the student's features across images divided by the teacher's. Near 0: the student gives (almost)
  the same features for every image — its map is then a distance to one fixed prototype, not a
  reconstruction of this image (what a ReLU-ended decoder does with a signed teacher).
- :func:`loss_drop` — did the loss fall? Mean of the first and last ``k`` steps and their ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


def _spread(f: torch.Tensor) -> float:
    """Mean over channels and positions of the standard deviation over the batch."""
    return float(f.float().std(dim=0).mean())


def input_dependence(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]) -> list[float]:
    """Per level: across-image spread of the student's features ÷ the teacher's (needs ≥ 2 images)."""
    if len(teacher) != len(student):
        raise ValueError(f"{len(teacher)} teacher levels but {len(student)} student levels")
    out = []
    for k, (t, s) in enumerate(zip(teacher, student), 1):
        if t.shape[0] < 2 or s.shape[0] != t.shape[0]:
            raise ValueError(f"level {k}: need the same batch of >= 2 images, got {t.shape[0]} and {s.shape[0]}")
        ref = _spread(t)
        out.append(_spread(s) / ref if ref > 0 else float("nan"))
    return out


@dataclass
class LossDrop:
    first: float  # mean of the first k steps
    last: float  # mean of the last k steps
    k: int

    @property
    def ratio(self) -> float:
        return self.last / self.first if self.first else float("nan")

    def __str__(self) -> str:
        return f"{self.first:.3f} → {self.last:.3f} (×{self.ratio:.2f}, means of the first / last {self.k} steps)"


def loss_drop(losses: Sequence[float], k: int = 5) -> LossDrop:
    """First-``k`` and last-``k`` mean of a loss curve (``k`` shrinks for short curves)."""
    values = [float(v) for v in losses]
    if not values:
        raise ValueError("no loss values")
    k = max(1, min(k, len(values) // 2 or 1))
    return LossDrop(sum(values[:k]) / k, sum(values[-k:]) / k, k)
