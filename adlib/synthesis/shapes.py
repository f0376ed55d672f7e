"""CutPaste's box sampler (Li et al., CVPR 2021, §3.1; Runinho/pytorch-cutpaste ``CutPasteNormal``),
shared by CutPaste and DAF's Simple Shape / Simple Texture-Shape rectangles (DAF spec §2.2).

Area A ~ U(0.02, 0.15)·H·W, aspect r log-uniform in [0.3, 1/0.3], width = round(√(A·r)),
height = round(√(A/r)) (at least 1 px, at most the image), top-left corner uniform with the box
fully inside the image.
"""

from __future__ import annotations

import math

import numpy as np


def box_size(rng: np.random.Generator, h: int, w: int, area=(0.02, 0.15), aspect: float = 0.3) -> tuple[int, int]:
    """(box height, box width) in pixels for an H×W image."""
    a = rng.uniform(*area) * h * w
    r = math.exp(rng.uniform(math.log(aspect), math.log(1 / aspect)))
    bw = min(max(int(round(math.sqrt(a * r))), 1), w)
    bh = min(max(int(round(math.sqrt(a / r))), 1), h)
    return bh, bw


def box_at(rng: np.random.Generator, h: int, w: int, bh: int, bw: int) -> tuple[int, int]:
    """A uniform top-left corner (row, col) for a bh×bw box inside an H×W image."""
    return int(rng.uniform(0, h - bh)), int(rng.uniform(0, w - bw))


def random_box(rng: np.random.Generator, h: int, w: int, **kwargs) -> tuple[int, int, int, int]:
    """One box ``(row0, row1, col0, col1)`` of :func:`box_size` at a uniform position."""
    bh, bw = box_size(rng, h, w, **kwargs)
    r0, c0 = box_at(rng, h, w, bh, bw)
    return r0, r0 + bh, c0, c0 + bw


def box_mask(shape, box) -> np.ndarray:
    """H×W bool mask of ``box = (row0, row1, col0, col1)``."""
    mask = np.zeros(shape[:2], bool)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = True
    return mask
