"""The reverse-distillation loss: teacher and student features should point the same way.

Paper (RD4AD Eqs. 2–3): per position, M^k(h, w) = 1 − cos(f_E^k(h, w), f_D^k(h, w)), averaged
over h, w and summed over the levels k. The authors' code instead flattens each C×H×W map into
one vector per image and takes a single cosine per image (averaged over the batch, summed over
levels) — that is what produced the paper's numbers, so it is the default (``mode="flatten"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..common.maps import cosine_distance_map

LOSS_MODES = ("flatten", "per_pixel")


def cosine_distance_flat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − cos(vec(a_i), vec(b_i)) per sample i (B,), each C×H×W map flattened to one vector."""
    return 1 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def rd_loss(teacher: list[torch.Tensor], student: list[torch.Tensor], mode: str = "flatten") -> torch.Tensor:
    """Σ_k mean_batch distance(E^k, D^k); ``flatten`` (code, default) or ``per_pixel`` (paper Eq. 3)."""
    if mode not in LOSS_MODES:
        raise ValueError(f"RD loss mode must be one of {LOSS_MODES}, got {mode!r}")
    if len(teacher) != len(student):
        raise ValueError(f"{len(teacher)} teacher levels but {len(student)} student levels")
    total = teacher[0].new_zeros(())
    for t, s in zip(teacher, student):
        if t.shape != s.shape:
            raise ValueError(f"teacher map {tuple(t.shape)} and student map {tuple(s.shape)} differ")
        d = cosine_distance_flat(t, s) if mode == "flatten" else cosine_distance_map(t, s).mean(dim=(1, 2, 3))
        total = total + d.mean()
    return total
