"""DAF's losses (Eqs. 1, 3, 4, 7; the code's ``KD_loss``, ``booster_loss``, ``balance_cross_entropy_loss``).

The synthetic mask y (B×1×S×S) is nearest-resized to each level (the top-left pixel of each
block); n = 1 − y is the normal region, N = Σ n **pooled over the batch**. Everything is float32
with autocast off.

- Eq. 1: L_cos,l = 1 − (1/N) Σ_{b,x} n · cos(t, s).
- Eq. 3: L_SSIM,l = (1/(C·N)) Σ_{b,c,x} n · (1 − SSIM_c), "only on normal regions". The code
  computes 1 − Σ(SSIM·n)/(C·N) instead, which adds the constant #anomalous/N: the same gradient,
  only the logged value differs (compare loss curves after removing it).
- Eq. 7: binary cross-entropy on probabilities (log clamped at −100), all positives P plus the
  k = min(#negatives, ⌊ratio·|P|⌋) hardest negatives of the whole batch, divided by |P| + k + 1e-6;
  exactly 0 without a positive pixel. L_dis applies it to each auxiliary map upsampled
  bilinearly to S, summed over the heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .discrepancy import nearest
from .heads import bilinear


def normal_region(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """n = 1 − y at ``like``'s size (B×1×h×w float32; all ones without a mask)."""
    if mask is None:
        return torch.ones_like(like[:, :1], dtype=torch.float32)
    return 1 - nearest(mask.float(), like.shape[-2:])


def masked_cos_loss(cos: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Eq. 1 for one level: 1 − Σ n·cos / Σ n over the batch (cos, n: B×1×h×w)."""
    with torch.autocast(cos.device.type, enabled=False):
        return 1 - (cos.float() * normal).sum() / normal.sum().clamp_min(1.0)


def masked_ssim_loss(ssim: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Eq. 3 for one level: Σ n·(1 − SSIM_c) / (C · Σ n) over the batch (ssim: B×C×h×w, n: B×1×h×w)."""
    with torch.autocast(ssim.device.type, enabled=False):
        return ((1 - ssim.float()) * normal).sum() / (ssim.shape[1] * normal.sum().clamp_min(1.0))


def balanced_bce(prob: torch.Tensor, target: torch.Tensor, negative_ratio: float = 3.0) -> torch.Tensor:
    """Eq. 7 with hard-negative mining: BCE over every positive pixel and the ⌊ratio·|P|⌋ negative
    pixels of the batch with the largest loss (all negatives if fewer), / (|P| + k + 1e-6)."""
    if prob.shape != target.shape:
        raise ValueError(f"probabilities {tuple(prob.shape)} and target {tuple(target.shape)} differ")
    with torch.autocast(prob.device.type, enabled=False):
        target = target.float()
        loss = F.binary_cross_entropy(prob.float(), target, reduction="none").flatten()
        positive = target.flatten() > 0.5
        n_pos = int(positive.sum())
        negatives = loss[~positive]
        k = min(negatives.numel(), int(math.floor(negative_ratio * n_pos)))
        hard = negatives.topk(k).values.sum() if k > 0 else loss.new_zeros(())
        return (loss[positive].sum() + hard) / (n_pos + k + 1e-6)


def aux_loss(probs: list[torch.Tensor], target: torch.Tensor, negative_ratio: float = 3.0) -> torch.Tensor:
    """L_dis (§III.D): Σ_heads balanced BCE of each auxiliary map upsampled bilinearly to the mask's size."""
    size = target.shape[-2:]
    with torch.autocast(target.device.type, enabled=False):
        return sum(balanced_bce(bilinear(p.float(), size), target, negative_ratio) for p in probs)
