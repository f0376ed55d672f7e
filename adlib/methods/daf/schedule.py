"""DAF's optimiser and learning-rate schedule (§IV.A.2; the code's ``train.py``/``trainer.py``).

AdamW (lr 2e-4, weight decay 1e-5 on every parameter, betas (0.9, 0.999)) over everything but the
teacher. The code wraps MultiStepLR([650, 950], γ 0.2) in GradualWarmupScheduler(×1, 50 epochs),
stepped once per epoch over 1200 epochs: with e the 0-based epoch, lr = 2e-4 · min(1, e/50) ·
0.2^#{m ∈ (700, 1000): e > m}, so epoch 0 trains at lr 0. Here the run is described by fractions
(warm-up 50/1200, milestones 700/1200 and 1000/1200) of its length in the chosen unit:

- ``interval="epoch"``: the code's schedule exactly (at 1200 epochs);
- ``interval="step"`` (default): the same shape per optimiser step, the warm-up linear from the
  first step ((s + 1)/W), so a short run does not spend a whole epoch at lr 0.
"""

from __future__ import annotations

import torch

INTERVALS = ("step", "epoch")


def lr_factor(i: int, total: int, warmup_frac: float, milestone_fracs, gamma: float, interval: str = "step") -> float:
    """The multiplier of the base lr at 0-based step or epoch ``i`` of ``total``."""
    if interval not in INTERVALS:
        raise ValueError(f"schedule_interval must be one of {INTERVALS}, got {interval!r}")
    warm = round(warmup_frac * total, 9)  # 50/1200 · 1200 is 50, not 49.999…
    if interval == "step":
        warm_part = min(1.0, (i + 1) / warm) if warm >= 1 else 1.0
    else:
        warm_part = min(1.0, i / warm) if warm > 0 else 1.0
    passed = sum(i > round(f * total, 9) for f in milestone_fracs)
    return warm_part * gamma ** passed


def daf_optimizer(params, total_steps: int | None, steps_per_epoch: int | None, *, lr: float, weight_decay: float,
                  warmup_frac: float, milestone_fracs, gamma: float, interval: str = "step") -> dict:
    """``{"optimizer": AdamW, "scheduler": LambdaLR, "interval"}`` for :func:`adlib.engine.fit`
    (no scheduler when the run length is unknown)."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999))
    if interval not in INTERVALS:
        raise ValueError(f"schedule_interval must be one of {INTERVALS}, got {interval!r}")
    if not total_steps:
        return {"optimizer": opt, "scheduler": None, "interval": interval}
    total = total_steps if interval == "step" else max(1, round(total_steps / max(1, steps_per_epoch or 1)))
    fracs = tuple(float(f) for f in milestone_fracs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_factor(i, total, warmup_frac, fracs, gamma, interval))
    return {"optimizer": opt, "scheduler": sched, "interval": interval}
