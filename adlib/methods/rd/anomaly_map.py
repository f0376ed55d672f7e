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
    check_levels(levels, len(teacher))
    with torch.autocast(teacher[0].device.type, enabled=False):
        per_level = level_maps(teacher, student, size)
        return fused_map(per_level, fusion, sigma, levels), per_level


def fused_map(per_level: list[torch.Tensor], fusion: str = "add", sigma: float = 4.0,
              levels: tuple[int, ...] | None = None) -> torch.Tensor:
    """The smoothed fusion of the ``levels`` (None: all) of :func:`level_maps`' output, in float32."""
    check_levels(levels, len(per_level))
    with torch.autocast(per_level[0].device.type, enabled=False):
        chosen = per_level if levels is None else [per_level[int(i)] for i in levels]
        return gaussian_blur(fuse_maps(chosen, fusion), sigma)


def check_levels(levels: tuple[int, ...] | None, n: int) -> None:
    """``levels`` must be None or a non-empty subset of ``0..n-1``."""
    if levels is not None and (not levels or any(not 0 <= int(i) < n for i in levels)):
        raise ValueError(f"score_levels must be a non-empty subset of 0..{n - 1}, got {levels}")


def image_score(amap: torch.Tensor) -> torch.Tensor:
    """Image anomaly score: the maximum of the map (B,)."""
    return _image_score(amap, "max")
