"""MHKD (Multi-task Hybrid Knowledge Distillation) as EfficientAD's diff (the authors' ``MHKD.py`` is
nelson1425's ``efficientad.py`` with the student swapped).

What changes (spec §1.4): the PDN-M teacher runs **padded** (64² maps at 256 px, no 4-px pad); the
student is :class:`~.student.MultiTaskStudent` (no autoencoder); the losses are
L_L = mean (t̂ − f_s)² (Eq. 6, no mining, no penalty), L_G = mean (t̂ − f_g)² (Eq. 4) and the
self-distillation L_SG = mean (f_g − f_l)² (Eq. 7), L = α·L_L + β·L_G + γ·L_SG (Eq. 8; the code's
α, β, γ = 1, 1, 2); the maps are A_s = mean_c (t̂ − f_s)² (structural) and A_g = mean_c (f_g − f_l)²
(logical), each normalised on the held-out set, upsampled to the image, smoothed by σ = 2
original-image px and summed (Eq. 9). What stays: Adam 1e-4 / wd 1e-5 with ×0.1 at 95 %, teacher
channel statistics, the 0.9 / 0.995 validation quantiles, the maximum as image score.

Paper-vs-code switches (defaults = the code): ``sd_detach`` (True: f_g detached in L_SG — "GDecoder
supervises SEncoder1", the paper's wording; the code moves both), ``sigma_orig_px`` (the paper names no
smoothing: 0), ``score_rule`` ("code": the training script's max of the unsmoothed 0.5·φA_s + 0.5·φA_g),
``hard_quantile`` (the code's commented-out mining line). Table IV (assumptions, the paper defines
neither): ``self_distill=False`` sets γ = 0 and makes the logical map mean_c (t̂ − f_g)²;
``sencoder2="single"`` is one stride-4 conv. ``logical_map="teacher"`` keeps L_SG but scores f_g
against t̂ (§IV.C's false-positive claim on the same model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..base import register
from ..efficientad.maps import to_image
from ..efficientad.model import EfficientAD, EfficientADConfig
from ..efficientad.normalization import hard_mining_loss
from .student import SENCODER2, MultiTaskStudent

LOGICAL_MAPS = ("self", "teacher")
SCORE_RULES = ("official", "code")


@dataclass
class MHKDConfig(EfficientADConfig):
    """MHKD as the authors' code runs it (EfficientAD's fields with MHKD's defaults, and its own)."""

    teacher_padding: bool = True  # the padded PDN-M: 64² maps, no 4-px pad
    hard_quantile: float | None = None  # the code's mining line is commented out (0.999 switches it on for L_L)
    ae_jitter: bool = False  # unused: MHKD has no autoencoder (the code's jittered copy is never used)
    map_weights: tuple[float, float] = (1.0, 1.0)  # Eq. 9: A = φ(A_s) + φ(A_g)
    sigma_orig_px: float = 2.0  # the code smooths each upsampled map (σ = 2 original px); the paper: 0
    alpha: float = 1.0  # Eq. 8 weights; the paper gives none (Fig. 7 is a plot): the code's 1, 1, 2
    beta: float = 1.0
    gamma: float = 2.0
    self_distill: bool = True  # False (Table IV, assumption): γ = 0 and the logical map f_g vs t̂
    sd_detach: bool = False  # True: L_SG with f_g detached (the paper's "GDecoder supervises SEncoder1")
    sencoder2: str = "two"  # "single" (Table IV without SEncoder2, assumption): one 4×4 stride-4 conv
    logical_map: str = "self"  # self: mean_c (f_g − f_l)² | teacher: mean_c (t̂ − f_g)²
    score_rule: str = "official"  # official: max of the map | code: max of the unsmoothed 0.5/0.5 map


@register("mhkd", MHKDConfig)
class MHKD(EfficientAD):
    """EfficientAD with the multi-task student, Eqs. 4–9; see the module docstring."""

    def __init__(self, config: MHKDConfig | None = None):
        config = config or MHKDConfig()
        checks = {"sencoder2": SENCODER2, "logical_map": LOGICAL_MAPS, "score_rule": SCORE_RULES}
        for key, allowed in checks.items():
            if getattr(config, key) not in allowed:
                raise ValueError(f"mhkd: {key} must be one of {allowed}, got {getattr(config, key)!r}")
        if config.penalty != "none":
            raise ValueError("mhkd: the code forces the penalty off (pretrain_penalty = False); penalty must be 'none'")
        super().__init__(config)

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Without self-distillation, γ, ``sd_detach`` and ``logical_map`` change nothing: dropped."""
        config = dict(config)
        if config.get("self_distill") is False:
            for key in ("gamma", "sd_detach", "logical_map"):
                config.pop(key, None)
        return config

    def build_student(self, image_size: int) -> None:
        c = self.config
        self.student = MultiTaskStudent(image_size, c.out_channels, c.width, c.dropout, c.sencoder2)

    COMPOSE_FIELDS = EfficientAD.COMPOSE_FIELDS + ("score_rule", "logical_map")  # φ holds every map

    def map_names(self) -> tuple[str, ...]:
        return ("structural", "logical_self", "logical_teacher")

    def resolved_logical_map(self) -> str:
        """``teacher`` without self-distillation (f_l is then unconstrained), else the config's."""
        return "teacher" if not self.config.self_distill else self.config.logical_map

    def part_maps(self) -> dict[str, str]:
        return {"structural": "structural", "logical": f"logical_{self.resolved_logical_map()}"}

    def loss_weights(self) -> tuple[float, float, float]:
        """(α, β, γ); γ = 0 without self-distillation."""
        c = self.config
        return c.alpha, c.beta, (c.gamma if c.self_distill else 0.0)

    def loss_terms(self, batch: dict, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_L (Eq. 6), L_G (Eq. 4), L_SG (Eq. 7) and their weighted sum (Eq. 8) as ``loss``."""
        c = self.config
        f = self.student(batch["image"])
        d_l = (t - f.f_s.float()) ** 2
        terms = {"L_L": hard_mining_loss(d_l, c.hard_quantile) if c.hard_quantile is not None else d_l.mean(),
                 "L_G": ((t - f.f_g.float()) ** 2).mean()}
        f_g = f.f_g.detach() if c.sd_detach else f.f_g
        terms["L_SG"] = ((f_g.float() - f.f_l.float()) ** 2).mean()
        a, b, g = self.loss_weights()
        terms["loss"] = a * terms["L_L"] + b * terms["L_G"] + g * terms["L_SG"]
        return terms

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        return self.loss_terms(batch, self.teacher_features(batch["image"]))

    def raw_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """A_s = mean_c (t̂ − f_s)²; A_g = mean_c (f_g − f_l)² (self) and mean_c (t̂ − f_g)² (teacher)."""
        t, f = self.teacher_features(x), self.student(x)
        f_s, f_g, f_l = f.f_s.float(), f.f_g.float(), f.f_l.float()
        return {"structural": ((t - f_s) ** 2).mean(1, keepdim=True),
                "logical_self": ((f_g - f_l) ** 2).mean(1, keepdim=True),
                "logical_teacher": ((t - f_g) ** 2).mean(1, keepdim=True)}

    def image_scores(self, amap: torch.Tensor, phi: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """``official``: the maximum of the map; ``code``: of the unsmoothed 0.5·φA_s + 0.5·φA_g upsampled."""
        if self.config.score_rule == "official":
            return self.image_score_rule(amap)
        keys = self.part_maps()
        code = 0.5 * phi[keys["structural"]] + 0.5 * phi[keys["logical"]]
        return to_image(code, size, self.padded).flatten(1).amax(1)

    def evaluation_variants(self) -> dict[str, dict]:
        """Each branch alone, the training script's image score and the teacher-referenced logical map."""
        out = super().evaluation_variants()
        out["code_score"] = {"score_rule": "code"}
        if self.config.self_distill and self.config.logical_map == "self":
            out["logical_vs_teacher"] = {"logical_map": "teacher"}
        return out
