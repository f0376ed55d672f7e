"""EfficientAD's extra training inputs (Batzner et al. §3.2–3.3; nelson1425 ``efficientad.py``).

- :func:`jittered`: the autoencoder branch's input I′ — one ColorJitter of 0.2 (brightness, contrast or
  saturation, chosen per image) on the de-normalised image, re-normalised.
- :class:`PenaltyImages`: the penalty set P (L_penalty = mean S_st(P)²): resize the shorter side to 2S,
  grayscale with probability 0.3, centre crop S. ``"generic"`` = the offline pool of
  :mod:`adlib.teachers.generic_images` (packaged photos); ``"folder:<path>"`` = ImageNet / Imagenette
  on a user's machine (the EfficientAD paper's numbers assume ImageNet). nelson1425's current
  default, and MHKD's code, use none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from adlib.data.transforms import InputSpec

__all__ = ["PENALTIES", "PenaltyImages", "jittered"]

PENALTIES = ("none", "generic", "folder:<path>")
JITTERS = ("brightness", "contrast", "saturation")


def jittered(x: torch.Tensor, spec: InputSpec, strength: float = 0.2) -> torch.Tensor:
    """I′: images normalised as ``spec`` → one random colour jitter per image (torch RNG) → ``spec`` again."""
    from adlib.teachers.generic_images import color_jitter

    rgb = spec.invert(x.float()).clamp(0, 1)
    kinds = torch.randint(len(JITTERS), (len(x),)).tolist()
    factors = (1 + strength * (2 * torch.rand(len(x)) - 1)).tolist()
    out = torch.stack([color_jitter(img, JITTERS[k], f) for img, k, f in zip(rgb, kinds, factors)])
    return spec.apply(out).to(x.dtype)


def _photos(penalty: str) -> list[np.ndarray]:
    if penalty == "generic":
        from adlib.teachers.generic_images import load_photo_pool

        return [p.image for p in load_photo_pool()]
    folder = Path(penalty.split(":", 1)[1]).expanduser()
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".jpeg"))
    if not files:
        raise FileNotFoundError(f"penalty folder {folder} has no .jpg/.png images")
    return files


class PenaltyImages:
    """A draw of B penalty images (normalised as ``spec``) per call, from the torch RNG."""

    def __init__(self, penalty: str, image_size: int, spec: InputSpec):
        if penalty != "generic" and not penalty.startswith("folder:"):
            raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
        self.items, self.size, self.spec, self.penalty = _photos(penalty), int(image_size), spec, penalty

    def _load(self, item) -> torch.Tensor:
        if not isinstance(item, np.ndarray):
            from PIL import Image

            item = np.asarray(Image.open(item).convert("RGB"))
        t = torch.from_numpy(np.array(item)).permute(2, 0, 1).float()[None] / 255
        h, w = t.shape[-2:]
        scale = 2 * self.size / min(h, w)
        t = F.interpolate(t, size=(max(2 * self.size, round(h * scale)), max(2 * self.size, round(w * scale))),
                          mode="bilinear", align_corners=False, antialias=True)[0]
        top, left = (t.shape[1] - self.size) // 2, (t.shape[2] - self.size) // 2
        return t[:, top:top + self.size, left:left + self.size]

    def __call__(self, n: int, device) -> torch.Tensor:
        from adlib.teachers.generic_images import grayscale

        idx = torch.randint(len(self.items), (n,)).tolist()
        gray = (torch.rand(n) < 0.3).tolist()
        imgs = []
        for i, g in zip(idx, gray):
            t = self._load(self.items[i])
            imgs.append(grayscale(t) if g else t)
        return self.spec.apply(torch.stack(imgs)).to(device)
