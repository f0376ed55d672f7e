"""The teacher-student discrepancy of DAF (Eq. 5, in its code's multi-channel form) and its fusion (Fig. 3(b)).

Per level l, teacher features t and student features s (B×C×h×w), in float32 with autocast off:

- ``ssim_norm``: reflect-pad by window // 2, then divide each (b, c) map by its spatial maximum
  + 1e-10 (the code's ``util.ssim_norm``; ``"absmax"``: by the maximum of |f|, for the signed
  features of EfficientNet-Lite, where a channel with a non-positive maximum would flip or blow up);
- SSIM_c = SSIM(ŝ, t̂) per channel (11-tap window, σ 1.5, valid convolution → h×w; Eq. 2);
- cos = cos(s, t) along channels, on the raw features (B×1×h×w);
- M_l = (1 − SSIM_c) + (1 − cos), the cos term broadcast over channels: **B×C×h×w** (code). Its
  channel mean is the paper's Eq. 5 map, 2 − cos − SSIM. ``kd_loss="cos"`` / ``"ssim"`` (Table XI)
  keep only that term (a choice: the released code crashes on these settings).

Fusion into the segmentation input (``fuse_levels``): every M_l nearest-resized to level 1's size,
channels tiled cyclically to C* = max_l C_l (output channel c is channel c mod C_l; for 64/128/256
this is the code's ``M1.repeat(1,4) + up2(M2).repeat(1,2) + up4(M3)``) and summed; ``"mean"`` (the
paper's single map M̄ ∈ R^{H×W}): the channel means, summed. Scoring (``scoring_map``):
M̄ = Σ_l nearest-upsample(mean_c M_l) at the image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..common import reflect_pad, ssim_map

KD_LOSSES = ("cos_ssim", "cos", "ssim")
SSIM_NORMS = ("max", "absmax")
DISCREPANCY_INPUTS = ("multichannel", "mean")


@dataclass
class LevelDiscrepancy:
    """One level's similarities: ``ssim`` B×C×h×w (None without the SSIM term), ``cos`` B×1×h×w (None
    without the cosine term), ``channels`` C."""

    ssim: torch.Tensor | None
    cos: torch.Tensor | None
    channels: int

    def map(self) -> torch.Tensor:
        """M_l = (1 − SSIM_c) + (1 − cos), B×C×h×w (a missing term counts 0)."""
        terms = [1 - v for v in (self.ssim, self.cos) if v is not None]
        out = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        b, _, h, w = out.shape
        return out.expand(b, self.channels, h, w)


def ssim_norm(f: torch.Tensor, pad: int, mode: str = "max") -> torch.Tensor:
    """Reflect-pad each map by ``pad`` and divide it by its spatial maximum (``max``, the code) or
    maximum magnitude (``absmax``) + 1e-10, per (b, c). Both are equal on non-negative maps."""
    if mode not in SSIM_NORMS:
        raise ValueError(f"ssim_norm must be one of {SSIM_NORMS}, got {mode!r}")
    scale = (f.abs() if mode == "absmax" else f).amax(dim=(-2, -1), keepdim=True)
    return reflect_pad(f, pad) / (scale + 1e-10)


def level_discrepancy(t: torch.Tensor, s: torch.Tensor, kd_loss: str = "cos_ssim", norm: str = "max",
                      window: int = 11, sigma: float = 1.5, k: tuple[float, float] = (0.01, 0.03)) -> LevelDiscrepancy:
    """SSIM_c(ŝ, t̂) and cos(s, t) of one level (Eqs. 1, 2, 5), float32 even under autocast."""
    if kd_loss not in KD_LOSSES:
        raise ValueError(f"kd_loss must be one of {KD_LOSSES}, got {kd_loss!r}")
    if t.shape != s.shape:
        raise ValueError(f"teacher map {tuple(t.shape)} and student map {tuple(s.shape)} differ")
    with torch.autocast(t.device.type, enabled=False):
        t, s = t.float(), s.float()
        ssim = cos = None
        if kd_loss in ("cos_ssim", "ssim"):
            pad = window // 2
            ssim = ssim_map(ssim_norm(s, pad, norm), ssim_norm(t, pad, norm), window, sigma, tuple(k))
        if kd_loss in ("cos_ssim", "cos"):
            cos = F.cosine_similarity(s, t, dim=1, eps=1e-8).unsqueeze(1)
        return LevelDiscrepancy(ssim, cos, t.shape[1])


def nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize (PyTorch's ``"nearest"``: source pixel floor(i · in / out), the top-left
    of each block when shrinking, as the code's masks and maps)."""
    return x if tuple(x.shape[-2:]) == tuple(size) else F.interpolate(x, size=tuple(size), mode="nearest")


def tile_channels(m: torch.Tensor, channels: int) -> torch.Tensor:
    """B×C×h×w → B×``channels``×h×w, output channel c = input channel c mod C."""
    c = m.shape[1]
    if channels % c == 0:
        return m.repeat(1, channels // c, 1, 1)
    return m.index_select(1, torch.arange(channels, device=m.device) % c)


def fuse_levels(maps: list[torch.Tensor], mode: str = "multichannel") -> torch.Tensor:
    """The segmentation input before the Smooth layer, at level 1's size: the level maps tiled to
    C* = max C_l channels and summed (``multichannel``), or their channel means summed (``mean``, 1 channel)."""
    if mode not in DISCREPANCY_INPUTS:
        raise ValueError(f"discrepancy_input must be one of {DISCREPANCY_INPUTS}, got {mode!r}")
    size = tuple(maps[0].shape[-2:])
    if mode == "mean":
        return sum(nearest(m.mean(dim=1, keepdim=True), size) for m in maps)
    channels = max(m.shape[1] for m in maps)
    return sum(tile_channels(nearest(m, size), channels) for m in maps)


def scoring_map(maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """M̄ (Eq. 5, §III.B.2): Σ_l nearest-upsample(mean_c M_l) to ``size``, B×1×H×W float32."""
    with torch.autocast(maps[0].device.type, enabled=False):
        return sum(nearest(m.float().mean(dim=1, keepdim=True), size) for m in maps)
