"""From normalised feature-grid maps to the image (EfficientAD ``predict``; MHKD §III.C, Eq. 9).

φ-maps live on the teacher's grid (64² padded, 56² unpadded at 256 px). An unpadded grid is first
padded by 4 px of zeros (EfficientAD: the 56² maps then line up with the 64² image grid); the map is
upsampled bilinearly to the image, **then** smoothed by a Gaussian of σ original-image pixels
(MHKD's code: σ = 2, truncate 4, reflect; EfficientAD's: none). Maps here are at the input
resolution S, so σ is rescaled per axis to σ·(S/H0, S/W0) from each image's ``orig_size``: exactly σ
when the data were made at S. Every step is linear, so G(up(a·φ1 + b·φ2)) = a·G(up φ1) + b·G(up φ2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..common.maps import gaussian_blur

__all__ = ["MAP_PAD", "to_image"]

MAP_PAD = 4  # px of zeros around an unpadded PDN's maps


def _sigmas(sigma: float, size: tuple[int, int], orig_size, n: int) -> list[tuple[float, float]]:
    if orig_size is None:
        return [(sigma, sigma)] * n
    o = torch.as_tensor(orig_size).reshape(-1, 2).tolist()
    return [(sigma * size[0] / float(h0), sigma * size[1] / float(w0)) for h0, w0 in o]


def to_image(phi: torch.Tensor, size: tuple[int, int], padded: bool, sigma: float = 0.0, orig_size=None) -> torch.Tensor:
    """B×1×h×w φ-maps → B×1×H×W: pad 4 (unpadded grid), bilinear upsample to ``size``, then Gaussian σ
    (original-image px; rescaled per axis to ``size`` with ``orig_size`` (B×2), else σ as given)."""
    m = phi.float()
    if not padded:
        m = F.pad(m, (MAP_PAD,) * 4)
    m = F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False)
    if sigma <= 0:
        return m
    sig = _sigmas(sigma, tuple(size), orig_size, m.shape[0])
    if len(set(sig)) == 1:
        return gaussian_blur(m, sig[0])
    return torch.cat([gaussian_blur(m[i:i + 1], s) for i, s in enumerate(sig)])
