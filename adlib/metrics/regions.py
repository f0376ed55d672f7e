"""Connected ground-truth regions (8-connectivity, as the MVTec evaluation and scikit-image)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the connected components of a binary H×W mask: (int32 labels, 0 = background; count)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {mask.shape}")
    labels, n = ndimage.label(mask > 0, structure=EIGHT_CONNECTED)
    return labels.astype(np.int32, copy=False), int(n)


def region_overlaps(pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-region overlap |pred ∩ region| / |region| for every connected region of ``mask``."""
    pred = np.asarray(pred, dtype=bool)
    labels, n = label_regions(mask)
    if pred.shape != labels.shape:
        raise ValueError(f"prediction {pred.shape} and mask {labels.shape} differ in shape")
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    hit = np.bincount(labels[pred], minlength=n + 1)[1:]
    return hit / area
