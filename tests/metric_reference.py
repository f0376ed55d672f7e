"""Slow, obviously-correct reference implementations used to check adlib.metrics (tests only).

They loop over every distinct threshold and recompute everything from scratch with numpy/scipy.
"""

from __future__ import annotations

from bisect import bisect

import numpy as np
from scipy import ndimage
from sklearn.metrics import auc

EIGHT = np.ones((3, 3), bool)


def trapezoid_ref(x, y, x_max):
    """The MVTec evaluation's generic_util.trapezoid, rewritten."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def regions_ref(masks):
    out = []
    for i, m in enumerate(masks):
        lab, n = ndimage.label(m > 0, structure=EIGHT)
        out += [(i, lab == k) for k in range(1, n + 1)]
    return out


def pro_curve_ref(maps, masks):
    """Every distinct score a threshold (pixel anomalous iff score >= t)."""
    maps, masks = np.asarray(maps, float), np.asarray(masks) > 0
    regions = regions_ref(masks)
    normal = ~masks
    fprs, pros = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        fprs.append((pred & normal).sum() / normal.sum())
        pros.append(np.mean([pred[i][r].sum() / r.sum() for i, r in regions]))
    return np.array(fprs + [1.0]), np.array(pros + [1.0])


def aupro_ref(maps, masks, limit=0.3):
    f, p = pro_curve_ref(maps, masks)
    return trapezoid_ref(f, p, limit) / limit


def legacy_pro_ref(maps, masks, limit=0.3, num_th=200):
    """RD4AD compute_pro, rewritten without pandas (one call)."""
    maps, masks = np.asarray(maps), np.asarray(masks).astype(int)
    lo, hi = maps.min(), maps.max()
    delta = (hi - lo) / num_th
    pros, fprs = [], []
    for th in np.arange(lo, hi, delta):
        binary = maps > th
        region_pros = []
        for b, m in zip(binary, masks):
            lab, n = ndimage.label(m, structure=EIGHT)
            for k in range(1, n + 1):
                r = lab == k
                region_pros.append(b[r].sum() / r.sum())
        inv = 1 - masks
        fprs.append(np.logical_and(inv, binary).sum() / inv.sum())
        pros.append(np.mean(region_pros))
    fprs, pros = np.array(fprs), np.array(pros)
    keep = fprs < limit
    fprs, pros = fprs[keep], pros[keep]
    return auc(fprs / fprs.max(), pros)


def spro_ref(maps, channel_stacks, config, limit):
    """config: {pixel_value: (threshold, relative)}. Every distinct score a threshold."""
    maps = np.asarray(maps, float)
    channels, defect = [], np.zeros(maps.shape, bool)
    for i, stack in enumerate(channel_stacks):
        for c in np.asarray(stack):
            if not c.any():
                continue
            thr, rel = config[int(c.max())]
            area = (c > 0).sum()
            s = thr * area if rel else min(thr, area)
            channels.append((i, c > 0, s))
            defect[i] |= c > 0
    normal = ~defect
    fprs, vals = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        fprs.append((pred & normal).sum() / normal.sum())
        vals.append(np.mean([min((pred[i] & r).sum() / s, 1.0) for i, r, s in channels]))
    f, v = np.array(fprs + [1.0]), np.array(vals + [1.0])
    return trapezoid_ref(f, v, limit) / limit
