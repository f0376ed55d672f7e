"""From teacher/student disagreement to an anomaly map and an image score (RD4AD §3.4, ``cal_anomaly_map``).

Per level k: M^k = 1 − cos(E^k, D^k) along channels; upsample bilinearly (align_corners=True) to
the input size; fuse by sum (the code's mode "a", default) or product (mode "mul"); smooth with
a Gaussian of σ = 4 (scipy's ``gaussian_filter``: 33 taps, 'reflect' = symmetric borders).
Image score: the maximum of the smoothed map.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from .loss import cosine_distance_map

FUSIONS = ("add", "mul")


def level_maps(teacher: list[torch.Tensor], student: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
    """Per-level maps 1 − cos, each upsampled to ``size``: list of B×1×H×W."""
    return [F.interpolate(cosine_distance_map(t.float(), s.float()), size=size, mode="bilinear", align_corners=True)
            for t, s in zip(teacher, student)]


def fuse_maps(maps: list[torch.Tensor], fusion: str = "add") -> torch.Tensor:
    """Sum (``add``, the code's default) or product (``mul``) of the per-level maps."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    out = maps[0]
    for m in maps[1:]:
        out = out + m if fusion == "add" else out * m
    return out


def _symmetric_index(n: int, radius: int, device) -> torch.Tensor:
    """Indices padding a length-n axis by ``radius`` with scipy's 'reflect' (d c b a | a b c d) rule."""
    idx = torch.arange(-radius, n + radius, device=device)
    period = 2 * n
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - 1 - idx, idx)


def gaussian_blur(x: torch.Tensor, sigma: float = 4.0, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian filter of B×C×H×W maps, identical to ``scipy.ndimage.gaussian_filter``
    (same kernel radius ``int(truncate·σ + 0.5)``, normalised, symmetric 'reflect' borders)."""
    if sigma <= 0:
        return x
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, w)
    y = y.index_select(3, _symmetric_index(w, radius, x.device))
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = y.index_select(2, _symmetric_index(h, radius, x.device))
    y = F.conv2d(y, k.view(1, 1, -1, 1))
    return y.reshape(b, c, h, w)


def anomaly_map(teacher: list[torch.Tensor], student: list[torch.Tensor], size: tuple[int, int],
                fusion: str = "add", sigma: float = 4.0,
                levels: tuple[int, ...] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(smoothed fused map B×1×H×W, every level's upsampled map before fusion), in float32
    even under autocast (bf16 maps would create ties that shift AUROC/AUPRO). ``levels``: fuse
    only these (MRKD Table 7's score maps); ``None`` = all."""
    if levels is not None and (not levels or any(not 0 <= int(i) < len(teacher) for i in levels)):
        raise ValueError(f"score_levels must be a non-empty subset of 0..{len(teacher) - 1}, got {levels}")
    with torch.autocast(teacher[0].device.type, enabled=False):
        per_level = level_maps(teacher, student, size)
        chosen = per_level if levels is None else [per_level[int(i)] for i in levels]
        return gaussian_blur(fuse_maps(chosen, fusion), sigma), per_level


def image_score(amap: torch.Tensor) -> torch.Tensor:
    """Image anomaly score: the maximum of the map (B,)."""
    return amap.flatten(1).amax(dim=1)


