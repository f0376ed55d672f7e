"""Saturated per-region overlap (sPRO) for MVTec LOCO AD (Bergmann et al., IJCV 2022, Eq. 1).

Each ground-truth *file* (channel) is one region, whatever its connectivity. At threshold t its
sPRO is min(|region ∩ {map ≥ t}| / s, 1), with the saturation area s from ``defects_config.json``:
``saturation_threshold · area`` when relative, else ``min(saturation_threshold, area)``. The
curve's PRO is the mean over all channels of the evaluated images; FPR is over all pixels that
belong to no channel. The official script refines thresholds until curve points are 0.001 apart;
here every distinct score is a threshold (the exact curve that refinement approaches).
Areas under the curve for FPR limits 0.01, 0.05, 0.1, 0.3 and 1.0, each divided by its limit.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import torch

from .aupro import trapezoid_to
from .protocol import MetricError, MetricResult, as_maps, downsample_curve
from .ranking import positive_curve, sort_ascending

SPRO_FPR_LIMITS = (0.01, 0.05, 0.1, 0.3, 1.0)


def _config(defects_config):
    from adlib.data.loco import DefectsConfig, load_defects_config, parse_defects_config

    if isinstance(defects_config, DefectsConfig):
        return defects_config
    if isinstance(defects_config, (str, os.PathLike)):
        return load_defects_config(defects_config)
    return parse_defects_config(list(defects_config))


def spro_curve(maps, masks: Sequence[torch.Tensor], defects_config, orig_sizes=None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Exact sPRO curve (FPR, sPRO) from (0, 0) to (1, 1), plus bookkeeping.

    ``masks[i]`` is K_i×H×W with each channel's raw pixel value (K_i = 0 for good images).
    ``orig_sizes[i]`` = (H0, W0) of image i on disk: absolute saturation thresholds, given in
    original pixels, are scaled by (H·W)/(H0·W0) when maps are evaluated at another resolution.
    """
    cfg = _config(defects_config)
    m = as_maps(maps, "anomaly maps")
    n, h, w = m.shape
    if len(masks) != n:
        raise MetricError(f"{n} anomaly maps but {len(masks)} mask stacks")
    flat = m.flatten()
    entry_scores, entry_weights = [], []
    defect_pixel = torch.zeros(n * h * w, dtype=torch.bool, device=m.device)
    n_channels, n_empty = 0, 0
    for i, stack in enumerate(masks):
        stack = torch.as_tensor(stack).to(m.device)
        if stack.numel() == 0:
            continue
        if stack.ndim == 2:
            stack = stack[None]
        if tuple(stack.shape[-2:]) != (h, w):
            raise MetricError(f"masks of image {i} are {tuple(stack.shape[-2:])}, maps are {(h, w)}")
        scale = 1.0
        if orig_sizes is not None:
            h0, w0 = (int(v) for v in orig_sizes[i])
            scale = (h * w) / (h0 * w0)
        for channel in stack:
            pix = (channel.flatten() > 0).nonzero().flatten() + i * h * w
            if pix.numel() == 0:
                n_empty += 1  # vanished when the mask was downscaled
                continue
            entry = cfg.get(int(channel.max()))
            area = pix.numel()
            if entry.relative_saturation:
                s = entry.saturation_threshold * area
            else:
                s = min(entry.saturation_threshold * scale, area)
            defect_pixel[pix] = True
            # the channel's pixels from highest score down: each of the first ⌊s⌋ adds 1/s to its
            # sPRO, the next one the remainder; then the channel is saturated
            scores = torch.sort(flat[pix], descending=True).values
            weights = torch.zeros(area, dtype=torch.float64, device=m.device)
            k = min(int(math.floor(s)), area)
            weights[:k] = 1.0 / s
            if k < area and s > k:
                weights[k] = 1.0 - k / s
            entry_scores.append(scores)
            entry_weights.append(weights)
            n_channels += 1
    if n_channels == 0:
        raise MetricError("sPRO needs at least one non-empty ground-truth channel")
    if bool(defect_pixel.all()):
        raise MetricError("sPRO needs defect-free pixels; every pixel is marked defective")
    curve = positive_curve(torch.cat(entry_scores), torch.cat(entry_weights)[None] / n_channels,
                           [sort_ascending(flat[~defect_pixel])])
    fpr, spro = curve.staircase(0)
    fpr, spro = fpr.clamp(max=1.0), spro.clamp(max=1.0)
    info = {"channels": n_channels, "channels_empty_at_resolution": n_empty}
    return fpr, spro, info


def spro(maps, masks, defects_config, fpr_limits: Sequence[float] = SPRO_FPR_LIMITS, orig_sizes=None,
         keep_curve: bool = False) -> MetricResult:
    """AU-sPRO for each FPR limit (normalised by the limit): ``value = {limit: area}``."""
    fpr, curve, info = spro_curve(maps, masks, defects_config, orig_sizes)
    value = {float(lim): trapezoid_to(fpr, curve, float(lim)) / float(lim) for lim in fpr_limits}
    m = as_maps(maps, "anomaly maps")
    protocol = {"fpr_limits": [float(v) for v in fpr_limits], "thresholds": "exact (every distinct score)",
                "saturation_source": "defects_config.json", "region": "one per ground-truth file",
                "mask_resolution": list(m.shape[-2:]),
                "absolute_saturation_scaled_to_resolution": orig_sizes is not None, **info}
    return MetricResult("spro", value, protocol, curve=downsample_curve(fpr, curve) if keep_curve else None)
