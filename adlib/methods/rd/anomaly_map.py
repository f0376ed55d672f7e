"""From teacher/student disagreement to an anomaly map and an image score (RD4AD §3.4, ``cal_anomaly_map``).

Per level k: M^k = 1 − cos(E^k, D^k) along channels; upsample bilinearly (align_corners=True) to
the input size; fuse by sum (the code's mode "a", default) or product (mode "mul"); smooth with
a Gaussian of σ = 4 (scipy's ``gaussian_filter``: 33 taps, 'reflect' = symmetric borders).
Image score: the maximum of the smoothed map.
"""

from __future__ import annotations


import torch

from ..common.maps import cosine_distance_map, gaussian_blur, image_score as _image_score, upsample

FUSIONS = ("add", "mul")


def level_maps(teacher: list[torch.Tensor], student: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
    """Per-level maps 1 − cos, each upsampled to ``size``: list of B×1×H×W."""
    return [upsample(cosine_distance_map(t.float(), s.float()), size) for t, s in zip(teacher, student)]


def fuse_maps(maps: list[torch.Tensor], fusion: str = "add") -> torch.Tensor:
    """Sum (``add``, the code's default) or product (``mul``) of the per-level maps."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    out = maps[0]
    for m in maps[1:]:
        out = out + m if fusion == "add" else out * m
    return out


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
    return _image_score(amap, "max")
