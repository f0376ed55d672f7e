"""Area under the per-region-overlap (PRO) curve, in the variants the papers use.

``mode="mvtec"`` (default) is the official MVTec AD evaluation: one curve over the whole test set,
every distinct score a threshold, FPR over all defect-free pixels, PRO = mean over all connected
ground-truth regions (8-connectivity) of the fraction of the region above the threshold; area by
trapezoid up to ``fpr_limit`` (interpolated at the limit) divided by the limit.
DM-GRD's "PRO" is this curve over the full range: ``fpr_limit=1.0``.

``mode="rd4ad_legacy"`` is the ``compute_pro`` routine of the RD4AD / RD++ / MRKD code: per
anomalous image, 200 evenly spaced thresholds between that image's min and max score, points
with FPR < limit kept, FPR rescaled by its maximum, area by trapezoid, averaged over images.
``mode="daf_legacy"`` runs the same routine once over the whole set (as the DAF code does).
"""

from __future__ import annotations

import numpy as np
import torch

from .protocol import MetricError, MetricResult, downsample_curve
from .ranking import pixel_inputs, positive_curve, sort_ascending
from .regions import label_regions

AUPRO_MODES = ("mvtec", "rd4ad_legacy", "daf_legacy")


def region_labels(masks: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Connected regions of N binary masks, numbered 1..R across the whole set (0 = background)."""
    m = (masks > 0.5).cpu().numpy()
    out = np.zeros(m.shape, dtype=np.int64)
    offset = 0
    for i in range(m.shape[0]):
        lab, n = label_regions(m[i])
        out[i] = np.where(lab > 0, lab + offset, 0)
        offset += n
    return torch.from_numpy(out).to(masks.device), offset


def trapezoid_to(x: torch.Tensor, y: torch.Tensor, x_max: float) -> float:
    """∫ y dx from x[0] to ``x_max`` for a curve with non-decreasing x, linear interpolation at x_max
    (as ``generic_util.trapezoid`` of the MVTec evaluation code)."""
    x, y = x.double(), y.double()
    correction = 0.0
    if not bool((x == x_max).any()):
        ins = int(torch.searchsorted(x, torch.tensor([x_max], dtype=x.dtype, device=x.device), right=True))
        if not 0 < ins < len(x):
            raise MetricError(f"fpr limit {x_max} outside the curve's range [{float(x[0])}, {float(x[-1])}]")
        x0, x1, y0, y1 = x[ins - 1], x[ins], y[ins - 1], y[ins]
        y_interp = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        correction = float(0.5 * (y_interp + y0) * (x_max - x0))
    keep = x <= x_max
    return float(torch.trapezoid(y[keep], x[keep])) + correction


def pro_curve(maps, masks) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact PRO curve (FPR, PRO) over the whole set, from (0, 0) to (1, 1)."""
    m, g = pixel_inputs(maps, masks)
    labels, n_regions = region_labels(g)
    if n_regions == 0:
        raise MetricError("PRO needs at least one ground-truth region; all masks are empty")
    if bool(g.all()):
        raise MetricError("PRO needs defect-free pixels; every pixel is marked defective")
    gf = g.flatten()
    region = labels.flatten()[gf]
    w = 1.0 / (torch.bincount(region).double()[region] * n_regions)
    curve = positive_curve(m.flatten()[gf], w[None], [sort_ascending(m.flatten()[~gf])])
    fpr, pro = curve.staircase(0)
    return fpr.clamp(max=1.0), pro.clamp(max=1.0)


def legacy_thresholds(amap: np.ndarray, num_thresholds: int = 200) -> np.ndarray:
    """``np.arange(min, max, (max − min) / num)`` in the map's dtype, as the RD4AD code does."""
    lo, hi = amap.min(), amap.max()
    delta = (hi - lo) / num_thresholds
    if delta == 0:
        return np.array([lo])
    return np.arange(lo, hi, delta)


def _legacy_area(m: torch.Tensor, g: torch.Tensor, fpr_limit: float, num_thresholds: int) -> tuple[float, bool]:
    """RD4AD ``compute_pro`` on one set of maps (N×H×W): 200 thresholds, FPR < limit, rescaled."""
    th_np = legacy_thresholds(m.cpu().numpy(), num_thresholds)
    th = torch.from_numpy(np.ascontiguousarray(th_np)).to(device=m.device, dtype=m.dtype)
    n_th = th.numel()
    labels, n_regions = region_labels(g)
    flat = labels.flatten()
    # k = number of thresholds strictly below the score: the pixel is positive for thresholds 0..k-1
    k = torch.searchsorted(th, m.flatten().contiguous(), right=False)
    hist = torch.bincount(flat * (n_th + 1) + k, minlength=(n_regions + 1) * (n_th + 1)).view(n_regions + 1, n_th + 1)
    above = hist.flip(1).cumsum(1).flip(1)[:, 1:].double()  # above[r, j] = #pixels of r with k > j
    area = hist.sum(1).double()
    pro = (above[1:] / area[1:, None]).mean(0)
    fpr = above[0] / area[0]
    keep = fpr < fpr_limit
    if not bool(keep.any()):
        return 0.0, True  # every threshold exceeds the FPR limit: nothing under the limit
    if float(fpr[keep].max()) == 0.0:
        # no false positive at any kept threshold: the RD4AD code divides 0 by 0 here (and
        # crashes); adlib takes the best PRO reached with zero false positives
        return float(pro[keep].max()), True
    f, p = fpr[keep] / fpr[keep].max(), pro[keep]
    return float(torch.trapezoid(p.flip(0), f.flip(0))), False  # thresholds ascend → FPR descends


def aupro(maps, masks, fpr_limit: float = 0.3, mode: str = "mvtec", num_thresholds: int = 200,
          keep_curve: bool = False) -> MetricResult:
    """Normalised area under the PRO curve up to ``fpr_limit`` (see the module doc for the modes)."""
    if mode not in AUPRO_MODES:
        raise ValueError(f"aupro mode must be one of {AUPRO_MODES}, got {mode!r}")
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    m, g = pixel_inputs(maps, masks)
    protocol = {"mode": mode, "fpr_limit": fpr_limit, "normalized": True, "connectivity": 8,
                "mask_resolution": list(m.shape[-2:])}
    curve = None
    if mode == "mvtec":
        fpr, pro = pro_curve(m, g)
        value = trapezoid_to(fpr, pro, fpr_limit) / fpr_limit
        protocol.update(thresholds="exact (every distinct score)", scope="whole set")
        if keep_curve:
            curve = downsample_curve(fpr, pro)
    else:
        protocol.update(thresholds=f"{num_thresholds} linear (min..max)", fpr_rescaled_by_max=True)
        if mode == "daf_legacy":
            protocol["scope"] = "whole set"
            value, degenerate = _legacy_area(m, g, fpr_limit, num_thresholds)
            protocol["degenerate_zero_fpr"] = degenerate
        else:
            protocol["scope"] = "per anomalous image, averaged"
            anomalous = (g.flatten(1).any(1)).nonzero().flatten().tolist()
            if not anomalous:
                raise MetricError("PRO needs at least one ground-truth region; all masks are empty")
            per_image = [_legacy_area(m[i:i + 1], g[i:i + 1], fpr_limit, num_thresholds) for i in anomalous]
            valid = [v for v, _ in per_image if v == v]
            protocol["images"] = len(valid)
            protocol["images_degenerate_zero_fpr"] = sum(d for _, d in per_image)
            value = float(np.mean(valid)) if valid else float("nan")
    return MetricResult("aupro", value, protocol, curve=curve)
