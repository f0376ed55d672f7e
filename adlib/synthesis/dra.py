"""DRA — DRAEM's synthesis (Zavrtanik et al., ICCV 2021, Eq. 1; DAF §IV.A.2 "DRA") and its
shape × fill family, which DAF's "simple" strategies are members of (DAF §IV.C; spec §2.1–2.2).

One draw of :class:`DRASynth` (``shape``, ``fill``):

1. the anomaly shape M: a Perlin mask (:func:`adlib.synthesis.perlin.perlin_mask`, DRAEM) or one
   axis-aligned rectangle of CutPaste's box sampler (:mod:`adlib.synthesis.shapes`);
2. the fill T: a texture from ``texture_source`` (DTD in the papers) followed by 3 of DRAEM's 10
   augmenters (:mod:`adlib.synthesis.texture_aug`), or one flat random colour U{0..255}³;
3. the opacity blend P = I·(1−M) + (1−β)·T·M + β·I·M with β ~ U[0, ``beta_max``) (0.8;
   ``beta_max=0`` is DAF Table VIII's opaque paste), quantised to uint8 (≤ 0.5 grey levels).

The label is M, as in the authors' code; pixels outside it are never changed. DAF's code differs
from DRAEM's loader: every draw is anomalous, the original is never rotated, and an empty mask
is re-drawn (``max_redraws``, default 32; the rectangle is never empty). The code draws a random
training image with replacement and ignores the index; adlib keeps its keyed per-(index, draw)
draws (an accepted difference).
"""

from __future__ import annotations

import numpy as np

from .base import Strategy, blend, check_choice, match_channels
from .perlin import perlin_mask
from .shapes import box_mask, random_box
from .texture_aug import augment_texture
from .textures import texture_source as resolve_texture_source

SHAPES, FILLS = ("perlin", "rect"), ("texture", "color")
NAMES = {("perlin", "texture"): "dra", ("perlin", "color"): "simple_texture",
         ("rect", "texture"): "simple_shape", ("rect", "color"): "simple_texture_shape"}


class DRASynth(Strategy):
    """DRAEM-style synthesis with a Perlin or rectangular shape and a texture or flat-colour fill
    (see the module docstring). ``texture_source`` is only used (and resolved) for ``fill="texture"``."""

    def __init__(self, shape: str = "perlin", fill: str = "texture", beta_max: float = 0.8,
                 texture_source="dtd", augment: bool = True, max_redraws: int = 32, image_size=None):
        super().__init__(image_size, max_redraws)
        self.shape, self.fill = check_choice(shape, SHAPES, "shape"), check_choice(fill, FILLS, "fill")
        if not 0.0 <= float(beta_max) <= 1.0:
            raise ValueError(f"beta_max must be in [0, 1], got {beta_max}")
        self.beta_max, self.augment = float(beta_max), bool(augment)
        self.name = NAMES[(shape, fill)]
        self.texture = resolve_texture_source(texture_source) if fill == "texture" else None

    def options(self) -> dict:
        opts = {"shape": self.shape, "fill": self.fill, "beta_max": self.beta_max}
        if self.fill == "texture":
            opts["augment"] = self.augment
        return {**opts, **super().options()}

    def draw_mask(self, shape, rng: np.random.Generator) -> np.ndarray:
        """The anomaly shape M (H×W bool)."""
        if self.shape == "perlin":
            return perlin_mask(shape, rng)
        return box_mask(shape, random_box(rng, *shape))

    def draw_fill(self, shape, rng: np.random.Generator) -> np.ndarray:
        """The fill T (H×W×3 uint8): an (augmented) texture or one flat colour."""
        if self.fill == "color":
            return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (*shape, 3))
        tex = self.texture.sample(rng, shape)
        return augment_texture(tex, rng) if self.augment else tex

    def _draw(self, dest, src, rng):
        shape = dest.shape[:2]
        mask = self.draw_mask(shape, rng)
        if not mask.any():  # re-drawn by Strategy.__call__ (no texture is loaded for it)
            return dest.copy(), mask
        fill = match_channels(self.draw_fill(shape, rng), dest.shape[2])
        beta = rng.uniform(0.0, self.beta_max)
        return blend(dest, fill, mask, beta), mask
