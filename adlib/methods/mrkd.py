"""MRKD: Masked Reverse Knowledge Distillation (Jiang, Cao & Shen, KBS 2023) = RD + two maskings.

- **ILM** (image-level masking, Eq. 1): the teacher's features of the *clean* image are the target
  f_T,n; the bottleneck sees the teacher's features of an NSA-synthesised image, f_B = B(T(x_a)).
  A fraction α of the draws is synthesised (Table 6; the code: every draw, α = 1).
- **FLM** (feature-level masking, Eqs. 2–3): each decoder output f_S^l is multiplied by a random
  spatial mask M^l (M = 0 where R < λ, one value per position shared by all channels) and
  restored by a generation module G^l = conv3×3 → ReLU → conv3×3; f_G^l replaces f_S^l in the
  loss and the map. The masking runs at test time too (Algorithm 1, "Perform only FLM").
- Loss Eq. 4: Σ_l 1 − cos(vec f_T,n^l, vec f_G^l) (RD's flattened loss); map Eq. 5: Σ_l of the
  bilinear-upsampled 1 − cos maps, Gaussian σ = 4 (code); score Eq. 6: its maximum.

Test-time masks are drawn per image from a generator seeded by (``flm_seed``, pass, image key),
so an image gets the same mask whatever its batch; ``flm_passes > 1`` averages the maps of
several masks. The paper states neither; both are reported (:meth:`MRKD.evaluation_variants`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import PurePath

import torch
from torch import nn

from adlib.synthesis.nsa import NSA
from adlib.synthesis.nsa_presets import nsa_config

from .base import register
from .rd import RDConfig, ReverseDistillation

SCORE_MAP_VARIANTS = {"SM1": (0,), "SM2": (1,), "SM3": (2,), "SM1&2": (0, 1), "SM2&3": (1, 2)}  # Table 7


def image_key(path) -> str:
    """What seeds an image's test-time masks: the last three parts of its path (e.g.
    ``test/crack/000.png``), so moving the data folder does not change the masks."""
    return "/".join(PurePath(str(path)).parts[-3:])


def flm_mask(shape: tuple[int, ...], ratio: float, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Eq. 2: B×1×H×W mask, 0 where R < λ (a fraction λ of the positions), else 1."""
    if generator is not None:  # on the generator's device; the caller moves it
        return (torch.rand(shape, generator=generator, device=generator.device) >= ratio).float()
    return (torch.rand(shape, device=device) >= ratio).float()


class GenerationModule(nn.Module):
    """Eq. 3: G(f ⊙ M) = W₂ ReLU(W₁ (f ⊙ M)), two 3×3 convolutions with bias keeping C channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        for conv in (self.conv1, self.conv2):  # the code's decoder-wide init (biases keep the default)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x)))


@dataclass
class MRKDConfig(RDConfig):
    ilm: bool = True  # image-level masking (NSA input to the bottleneck)
    alpha: float = 1.0  # fraction of augmented draws (Table 6); code and headline: 1
    nsa: str = "code"  # "code": swap paste from the same image (MRKD repo) | "paper": NSA Poisson from another image
    flm: bool = True  # feature-level masking + generation modules
    flm_ratio: float = 0.2  # λ of Eq. 2 (Fig. 11)
    flm_at_test: bool = True  # Algorithm 1 masks at test time too
    flm_seed: int = 0  # seed of the test-time masks
    flm_passes: int = 1  # test-time masks averaged per image (1 = a single fixed-seed pass)
    eval_variants: bool = True  # also evaluate Table 7's score maps and the FLM pass variants


@register("mrkd", MRKDConfig)
class MRKD(ReverseDistillation):
    """RD4AD whose bottleneck sees synthetic anomalies (ILM) and whose decoder outputs are masked
    and restored by generation modules (FLM)."""

    # the FLM test settings change only the passes after the decoder: variants share the teacher and decoder
    PASS_FIELDS = ("flm_seed", "flm_ratio", "flm_at_test")
    COMPOSE_FIELDS = ReverseDistillation.COMPOSE_FIELDS + PASS_FIELDS + ("flm_passes",)

    def __init__(self, config: MRKDConfig | None = None):
        config = config or MRKDConfig()
        if not 0.0 <= config.alpha <= 1.0:
            raise ValueError(f"alpha (fraction of augmented images) must be in [0, 1], got {config.alpha}")
        if not 0.0 <= config.flm_ratio < 1.0:
            raise ValueError(f"flm_ratio (λ) must be in [0, 1), got {config.flm_ratio}")
        if config.flm_passes < 1:
            raise ValueError(f"flm_passes must be >= 1, got {config.flm_passes}")
        nsa_config(config.nsa)  # validates the variant name
        super().__init__(config)
        self.generation = nn.ModuleList(GenerationModule(c) for c in self.teacher.channels) if config.flm else None

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Equivalent settings share one run: α = 0 (no draw augmented) trains exactly as ILM off."""
        config = super().canonical_config(config)
        if "alpha" in config and float(config["alpha"]) == 0.0:
            config = {k: v for k, v in config.items() if k != "alpha"}
            config["ilm"] = False
        if config.get("ilm") is False:
            config.pop("nsa", None)
            config.pop("alpha", None)
        return config

    # -- ILM: RD's synthetic input at the bottleneck ----------------------------------------------
    def synthetic_role(self) -> str:
        """Eq. 1: with ILM the bottleneck sees T(x_a), the target stays T(x) (RD's ``"bottleneck"``)."""
        return "bottleneck" if self.config.ilm else "none"

    def synthesis(self, category: str | None = None):
        """NSA in the configured variant (``nsa``: the code's same-image swap or the paper's Poisson)."""
        cfg = nsa_config(self.config.nsa, category)
        return NSA(cfg), not cfg.same

    def synthetic_probability(self) -> float:
        """α: the fraction of training draws that are synthesised (Table 6)."""
        return self.config.alpha

    # -- FLM -----------------------------------------------------------------------------------
    def test_masks(self, student: list[torch.Tensor], batch: dict | None, pass_index: int = 0) -> list[torch.Tensor]:
        """Per-image masks seeded by (flm_seed, pass, crc32(image key)) — independent of batching and
        of where the data lives (:func:`image_key`: the path's last three parts)."""
        paths = (batch or {}).get("path")
        if paths is None:
            raise KeyError("test-time FLM masks are seeded per image: the batch needs its 'path' entries")
        masks = [[] for _ in student]
        for p in paths:
            g = torch.Generator().manual_seed((self.config.flm_seed * 1_000_003 + pass_index) * 4_294_967_311
                                              + zlib.crc32(image_key(p).encode()))
            for level, s in enumerate(student):
                masks[level].append(flm_mask((1, 1, *s.shape[-2:]), self.config.flm_ratio, generator=g))
        return [torch.cat(m).to(s.device, s.dtype) for m, s in zip(masks, student)]

    def transform_student(self, student: list[torch.Tensor], training: bool, batch: dict | None = None,
                          pass_index: int = 0) -> list[torch.Tensor]:
        """Eqs. 2–3: f_G = G(f_S ⊙ M) per level (identity without FLM)."""
        if self.generation is None:
            return student
        if training:
            masks = [flm_mask((s.shape[0], 1, *s.shape[-2:]), self.config.flm_ratio, s.device).to(s.dtype)
                     for s in student]
        elif self.config.flm_at_test:
            masks = self.test_masks(student, batch, pass_index)
        else:
            masks = [torch.ones_like(s[:, :1]) for s in student]
        return [g(s * m) for g, s, m in zip(self.generation, student, masks)]

    def test_passes(self) -> int:
        """Test-time masks averaged per image (``flm_passes`` when FLM masks at test time, else 1)."""
        return self.config.flm_passes if (self.generation is not None and self.config.flm_at_test) else 1

    def evaluation_variants(self) -> dict[str, dict]:
        """Table 7's single/paired score maps; FLM test masks averaged over 5 passes, and single
        passes with seeds 1–4 (with the main run: mean ± std over 5 fixed-seed passes)."""
        if not self.config.eval_variants:
            return {}
        out = {}
        if self.config.score_levels is None and len(self.teacher.channels) == 3:
            out.update({name: {"score_levels": levels} for name, levels in SCORE_MAP_VARIANTS.items()})
        if self.generation is not None and self.config.flm_at_test and self.config.flm_passes == 1:
            out["flm_avg5"] = {"flm_passes": 5}
            out.update({f"flm_seed{k}": {"flm_seed": self.config.flm_seed + k} for k in range(1, 5)})
        return out
