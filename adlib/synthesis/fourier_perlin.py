"""DM-GRD's Fourier + Perlin synthesis (Tran et al., ACCV 2024, §4.1 Eqs. 2–5, Fig. 2;
``data/fourier_perlin_noise.py``, ``data/FDA.py``, ``data/dataset.py``; spec dm_grd.md §1.2).

One draw: a target texture T (DTD in the paper; ``texture_source``; ``"self"`` = another training
image), the Fourier mix F_M = :func:`~adlib.synthesis.fourier.amplitude_mix` (image, T, weight)
(Eqs. 2–4), a DRAEM Perlin mask M (threshold 0.5; :mod:`adlib.synthesis.perlin`) and an opacity β:

====================  =====================================  ===========================================
                      ``mode="code"`` (default: produced      ``mode="paper"`` (the text's reading)
                      the paper's numbers)
====================  =====================================  ===========================================
amplitude weight      λ ~ U(0, 1)                             γ ~ N(0, 1) (Eq. 2; extrapolates;
                                                              ``clip_gamma=True`` clips it to [0, 1])
blend                 Eq. 5 literally:                        DRAEM's blend of Fig. 2:
                      (1−M)·F_M + (1−β)·F_M + β·M·F_M         (1−M)·I + (1−β)·M·F_M + β·M·I
                      = F_M inside M, (2−β)·F_M outside
β                     0.8·U(0, 1)                             U(0.1, 1.0) (§4.1)
====================  =====================================  ===========================================

``beta`` fixes β (Table 8). The label is M in both modes. **Code-mode quirk** (flagged in
``describe()["label_note"]``): the whole image changes — F_M differs from I everywhere and every
pixel outside M is brightened by (2 − β) — so the label is not where pixels changed; the authors'
code keeps no label at all (training ignores it). Empty masks are not re-drawn (the code does not;
``max_redraws`` changes that).

``output="float"`` (default) returns float32 H×W×C in 0–255 units, **unclipped and unrounded**, as
the code feeds the network (values reach ≈ 2.6× the image; ``SyntheticAnomalies`` passes floats
through ``/255``); ``output="uint8"`` rounds and clips (for display, or a uint8 pipeline).
"""

from __future__ import annotations

import numpy as np

from .base import Strategy, check_choice, match_channels, to_uint8
from .fourier import amplitude_mix
from .perlin import perlin_mask
from .textures import texture_source as resolve_texture_source

MODES, OUTPUTS = ("code", "paper"), ("float", "uint8")
CODE_LABEL_NOTE = ("mode='code' (Eq. 5 literal): the label is the Perlin mask, but F_M changes every pixel and "
                   "pixels outside the mask are brightened by (2 - beta)")


class FourierPerlin(Strategy):
    """DM-GRD's synthesis in ``mode`` ``"code"`` or ``"paper"`` (see the module docstring)."""

    name = "fourier_perlin"

    def __init__(self, mode: str = "code", texture_source="dtd", beta: float | None = None, window: float = 0.1,
                 clip_gamma: bool = False, output: str = "float", max_redraws: int = 0, image_size=None):
        super().__init__(image_size, max_redraws)
        self.mode, self.output = check_choice(mode, MODES, "mode"), check_choice(output, OUTPUTS, "output")
        if beta is not None and not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"beta must be None (random) or in [0, 1], got {beta}")
        if not 0.0 <= float(window) < 0.5:
            raise ValueError(f"window must be in [0, 0.5), got {window}")
        self.beta, self.window, self.clip_gamma = None if beta is None else float(beta), float(window), bool(clip_gamma)
        self.self_target = isinstance(texture_source, str) and texture_source == "self"
        self.needs_source = self.self_target
        self.texture = None if self.self_target else resolve_texture_source(texture_source)
        self.label_note = CODE_LABEL_NOTE if mode == "code" else None

    @property
    def texture_name(self) -> str | None:
        return "self" if self.self_target else super().texture_name

    def options(self) -> dict:
        return {"mode": self.mode, "beta": self.beta, "window": self.window, "clip_gamma": self.clip_gamma,
                "output": self.output, **super().options()}

    def draw_weight(self, rng: np.random.Generator) -> float:
        """λ ~ U(0, 1) (code) or γ ~ N(0, 1) (paper, optionally clipped to [0, 1])."""
        if self.mode == "code":
            return float(rng.uniform(0.0, 1.0))
        gamma = float(rng.normal())
        return float(np.clip(gamma, 0.0, 1.0)) if self.clip_gamma else gamma

    def draw_beta(self, rng: np.random.Generator) -> float:
        if self.beta is not None:
            return self.beta
        return 0.8 * float(rng.uniform(0.0, 1.0)) if self.mode == "code" else float(rng.uniform(0.1, 1.0))

    def _draw(self, dest, src, rng):
        h, w, c = dest.shape
        if self.self_target:
            if src is None:
                raise ValueError("fourier_perlin with texture_source='self' needs a second training image (src)")
            target = src
        else:
            target = match_channels(self.texture.sample(rng, (h, w)), c)
        image = dest.astype(np.float64)
        fm = amplitude_mix(image, target, self.draw_weight(rng), self.window)
        mask = perlin_mask((h, w), rng)
        m = mask[..., None].astype(np.float64)
        beta = self.draw_beta(rng)
        if self.mode == "code":  # Eq. 5 as written and coded
            out = (1 - m) * fm + (1 - beta) * fm + beta * m * fm
        else:
            out = (1 - m) * image + (1 - beta) * m * fm + beta * m * image
        out = out.astype(np.float32) if self.output == "float" else to_uint8(out)
        return out, mask
