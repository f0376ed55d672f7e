"""RD-Var: Reverse Distillation + a batch variance loss (Song, Buayai & Mao).

The variance loss pulls the student-decoder features of the normal images in a batch towards
their batch mean (Eqs. 2–5): F_i = flatten(f_i), F̄ = (1/N) Σ F_i,
L_var = (1/N) Σ_i (1 − cos(F_i, F̄)); total L = L_model + λ·L_var (Eq. 1), with L_model the RD loss.
Applied at decoder block D¹ (the 256×64×64 map for WRN50, best in Table V), D², D³ or all three
(summed). Table III's L1 / L2 variants replace the cosine distance by the mean absolute /
squared difference to F̄. The paper does not state λ (Fig. 4 is unreadable): sweep it.
F̄ is not detached (the paper does not say; plain autograd through the mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import register
from .rd import RDConfig, ReverseDistillation

VAR_DISTANCES = ("cos", "l1", "l2")
VAR_LEVELS = {"D1": (0,), "D2": (1,), "D3": (2,), "all": (0, 1, 2)}


def variance_loss(features: torch.Tensor, distance: str = "cos") -> torch.Tensor:
    """L_var of one decoder block's batch of maps (B×C×H×W), Eqs. 2–5 (``cos``) or L1/L2 variants."""
    if distance not in VAR_DISTANCES:
        raise ValueError(f"variance distance must be one of {VAR_DISTANCES}, got {distance!r}")
    flat = features.flatten(1)  # Eq. 2
    mean = flat.mean(dim=0, keepdim=True)  # Eq. 3
    if distance == "cos":
        return (1 - F.cosine_similarity(flat, mean.expand_as(flat), dim=1)).mean()  # Eqs. 4–5
    diff = flat - mean
    return diff.abs().mean() if distance == "l1" else diff.pow(2).mean()


@dataclass
class RDVarConfig(RDConfig):
    lambda_var: float = 0.1  # λ of Eq. 1 — not stated in the paper; see the sweep
    var_level: str = "D1"  # D1 | D2 | D3 | all (Table V)
    var_distance: str = "cos"  # cos | l1 | l2 (Table III)


@register("rd_var", RDVarConfig)
class RDVar(ReverseDistillation):
    """RD plus λ·L_var on the chosen decoder block(s)."""

    def __init__(self, config: RDVarConfig | None = None):
        config = config or RDVarConfig()
        if config.var_level not in VAR_LEVELS:
            raise ValueError(f"var_level must be one of {sorted(VAR_LEVELS)}, got {config.var_level!r}")
        if config.var_distance not in VAR_DISTANCES:
            raise ValueError(f"var_distance must be one of {VAR_DISTANCES}, got {config.var_distance!r}")
        super().__init__(config)
        self.loss_weights["var"] = config.lambda_var

    def extra_losses(self, batch: dict, record) -> dict:
        """Eq. 1's λ·L_var term on the student features of the chosen block(s) (``record.student``)."""
        levels = VAR_LEVELS[self.config.var_level]
        return {"var": sum(variance_loss(record.student[i], self.config.var_distance) for i in levels)}
