"""CutPaste (Li et al., CVPR 2021, §3.1–3.2), after the reference re-implementation
Runinho/pytorch-cutpaste (``cutpaste.py``); in DAF only the "CutP" baseline row of Table II.

- ``normal``: a box of CutPaste's sampler (:mod:`adlib.synthesis.shapes`: area U(0.02, 0.15)·S²,
  aspect log-uniform in [0.3, 1/0.3]) is cut from the **same** image at a uniform position,
  colour-jittered (ColorJitter brightness = contrast = saturation = hue = 0.1, the four ops in a
  random order, factors from the rng; torchvision's functional ops on PIL images) and pasted at
  another uniform position. The label is the destination box.
- ``scar``: a thin box, width U(2, 16) and height U(10, 25) px at 256 px (scaled by side/256),
  colour-jittered, rotated by U(−45°, 45°) with expansion (nearest, so its alpha is binary) and
  pasted through its alpha. The label is that alpha.
- ``union``: normal or scar with probability ½ each.

Runinho swaps width and height of non-square images (PIL's ``size`` is (W, H)); here rows are rows.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .base import Strategy, check_choice
from .shapes import box_at, box_mask, box_size

VARIANTS = ("normal", "scar", "union")


def color_jitter(patch: np.ndarray, rng: np.random.Generator, strength: float = 0.1) -> np.ndarray:
    """torchvision ``ColorJitter(b, c, s, h = strength)`` on an H×W×C uint8 patch, drawn from ``rng``."""
    if strength == 0:
        return patch
    import torchvision.transforms.functional as TF

    img = Image.fromarray(patch[..., 0] if patch.shape[2] == 1 else patch)
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    factors = (*rng.uniform(1 - strength, 1 + strength, 3), rng.uniform(-strength, strength))
    for k in rng.permutation(4):
        img = ops[k](img, float(factors[k]))
    return np.asarray(img).reshape(patch.shape)


class CutPaste(Strategy):
    """CutPaste ``variant`` ∈ {normal, scar, union} (see the module docstring)."""

    name = "cutpaste"

    def __init__(self, variant: str = "normal", jitter: float = 0.1, max_redraws: int = 32, image_size=None):
        super().__init__(image_size, max_redraws)
        self.variant = check_choice(variant, VARIANTS, "CutPaste variant")
        if not 0.0 <= float(jitter) < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.jitter = float(jitter)

    def options(self) -> dict:
        return {"variant": self.variant, "jitter": self.jitter, **super().options()}

    def _draw(self, dest, src, rng):
        variant = self.variant
        if variant == "union":
            variant = "normal" if rng.random() < 0.5 else "scar"
        return self.normal(dest, rng) if variant == "normal" else self.scar(dest, rng)

    def normal(self, dest, rng):
        h, w = dest.shape[:2]
        bh, bw = box_size(rng, h, w)
        r, c = box_at(rng, h, w, bh, bw)
        patch = color_jitter(dest[r:r + bh, c:c + bw], rng, self.jitter)
        r, c = box_at(rng, h, w, bh, bw)
        out = dest.copy()
        out[r:r + bh, c:c + bw] = patch
        return out, box_mask(dest.shape, (r, r + bh, c, c + bw))

    def scar(self, dest, rng):
        h, w = dest.shape[:2]
        scale = min(h, w) / 256.0
        bw = min(max(int(round(rng.uniform(2, 16) * scale)), 1), w)
        bh = min(max(int(round(rng.uniform(10, 25) * scale)), 1), h)
        r, c = box_at(rng, h, w, bh, bw)
        patch = color_jitter(dest[r:r + bh, c:c + bw], rng, self.jitter)
        alpha = Image.fromarray(np.full((bh, bw), 255, np.uint8))
        angle = rng.uniform(-45.0, 45.0)
        chans = [np.asarray(Image.fromarray(patch[..., k]).rotate(angle, expand=True)) for k in range(patch.shape[2])]
        alpha = np.asarray(alpha.rotate(angle, expand=True)) > 0
        ph, pw = min(alpha.shape[0], h), min(alpha.shape[1], w)
        alpha, rotated = alpha[:ph, :pw], np.stack(chans, axis=-1)[:ph, :pw]
        r, c = box_at(rng, h, w, ph, pw)
        out, label = dest.copy(), np.zeros((h, w), bool)
        region = out[r:r + ph, c:c + pw]
        region[alpha] = rotated[alpha]
        label[r:r + ph, c:c + pw] = alpha
        return out, label
