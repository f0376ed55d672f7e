"""Evaluate a whole test set at once: every metric, per defect type, one sort of the pixels.

Per-defect numbers follow the usual convention: the images of that defect type together with
all normal images. The pixel ranking is computed once and re-used for every subset (pixels
outside a subset get weight 0), so the breakdown costs cumulative sums, not new sorts.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from adlib.data.schema import NORMAL

from .aupro import aupro, region_labels, trapezoid_to
from .protocol import MetricError, MetricResult, as_maps, as_scores, downsample_curve
from .ranking import average_precision, best_f1, binary_curve, image_auroc, positive_curve, roc_auc, sort_ascending
from .spro import SPRO_FPR_LIMITS, spro


class _PixelSet:
    """The evaluated pixels, prepared once: each group's negatives sorted (groups = defect types),
    the positives' scores, images and region ids gathered. Subsets then cost only small ops."""

    def __init__(self, m: torch.Tensor, g: torch.Tensor, groups: list[str], exact_pro: bool):
        self.groups = groups
        self.exact_pro = exact_pro
        self.neg_sorted = {}
        for name in sorted(set(groups)):
            sel = torch.tensor([x == name for x in groups], device=m.device)
            ms, gs = m[sel], g[sel]
            self.neg_sorted[name] = sort_ascending(ms if not bool(gs.any()) else ms[~gs])
        pos_idx = g.flatten().nonzero().flatten()
        self.pos_scores = m.flatten()[pos_idx]
        self.pos_image = pos_idx // g[0].numel()
        if exact_pro:
            self.pos_region = region_labels(g)[0].flatten()[pos_idx]
            self.region_area = torch.bincount(self.pos_region).double()

    def metrics(self, names: set[str], fpr_limit: float, keep_curve: bool, extra_limits=()) -> dict:
        """Pixel AUROC, AP, F1-max and exact AU-PRO (at ``fpr_limit`` and each of ``extra_limits``,
        named :func:`aupro_name`) over the images of the groups in ``names``."""
        keep_img = torch.tensor([x in names for x in self.groups], device=self.pos_scores.device)
        keep = keep_img[self.pos_image]
        n = int(keep.sum())
        weights = [torch.ones(n, dtype=torch.float64, device=keep.device)]
        if self.exact_pro:
            reg = self.pos_region[keep]
            n_regions = int(torch.unique(reg).numel())
            weights.append(1.0 / (self.region_area[reg] * max(n_regions, 1)))
        curve = positive_curve(self.pos_scores[keep], torch.stack(weights), [self.neg_sorted[k] for k in sorted(names)])
        out = {"pixel_auroc": roc_auc(curve), "pixel_ap": average_precision(curve)}
        out["pixel_f1_max"], _ = best_f1(curve)
        if self.exact_pro:
            fpr, pro = curve.staircase(1)
            fpr, pro = fpr.clamp(max=1.0), pro.clamp(max=1.0)
            out["aupro"] = trapezoid_to(fpr, pro, fpr_limit) / fpr_limit
            out.update({aupro_name(lim): trapezoid_to(fpr, pro, lim) / lim for lim in extra_limits})
            if keep_curve:
                out["pro_curve"] = downsample_curve(fpr, pro)
        return out


def evaluate(maps, scores, labels, masks, defects: Sequence[str] | None = None, has_mask=None,
             aupro_mode: str = "mvtec", fpr_limit: float = 0.3, per_defect: bool = True,
             device: str | torch.device | None = None, keep_curves: bool = False,
             extra_fpr_limits: Sequence[float] = ()) -> dict[str, MetricResult]:
    """All MVTec-style metrics of a test set.

    Args:
        maps: N×H×W anomaly maps (higher = more anomalous); masks: N×H×W ground truth.
        scores, labels: image scores and labels (1 = anomalous).
        defects: defect type of each image (``"good"`` for normal) for the per-defect breakdown.
        has_mask: False for anomalous images without a mask (left out of pixel metrics).
        aupro_mode: ``mvtec`` (exact, whole set) or ``rd4ad_legacy`` / ``daf_legacy``.
        extra_fpr_limits: AU-PRO also at these limits, from the same curve, as ``aupro_fpr<limit>``
            (:func:`aupro_name`; ``1.0`` → ``aupro_fpr1``: the full-range area DM-GRD reports as "PRO").
    Returns ``{name: MetricResult}`` with ``image_auroc``, ``image_f1_max``, ``pixel_auroc``,
    ``pixel_ap``, ``pixel_f1_max`` and ``aupro``; ``timings`` sit in each protocol. Pixel metrics are
    computed over the images with a mask (``protocol["note"]`` when some anomalous ones have none); when
    no anomalous image has a (non-empty) mask their value is None and ``protocol["unavailable"]`` says why.
    """
    t0 = time.perf_counter()
    m = as_maps(maps, "anomaly maps", device)
    g = as_maps(masks, "masks", m.device, check_finite=False) > 0.5
    s = as_scores(scores, "scores", m.device)
    y = as_scores(labels, "labels", m.device) > 0
    n = m.shape[0]
    if g.shape != m.shape or s.numel() != n or y.numel() != n:
        raise MetricError(f"shapes disagree: maps {tuple(m.shape)}, masks {tuple(g.shape)}, "
                          f"{s.numel()} scores, {y.numel()} labels")
    defects = list(defects) if defects is not None else [NORMAL if not v else "anomalous" for v in y.tolist()]
    if len(defects) != n:
        raise MetricError(f"{len(defects)} defect names for {n} images")
    hm = torch.ones(n, dtype=torch.bool) if has_mask is None else torch.as_tensor(np.asarray(has_mask), dtype=torch.bool)
    hm = hm.to(m.device) | ~y  # normal images always have an exact (empty) mask

    extra_fpr_limits = check_fpr_limits(extra_fpr_limits)
    results: dict[str, MetricResult] = {}
    img_proto = {"level": "image", "thresholds": "exact"}
    results["image_auroc"] = image_auroc(s, y)
    f1, thr = best_f1(binary_curve(s, y))
    results["image_f1_max"] = MetricResult("image_f1_max", f1, {**img_proto, "best_threshold": thr})

    t1 = time.perf_counter()
    pix_idx = hm.nonzero().flatten()
    mp, gp = m[pix_idx], g[pix_idx]
    exact = aupro_mode == "mvtec"
    n_anom, n_masked = int(y.sum()), int((hm & y).sum())
    pix_proto = {"level": "pixel", "thresholds": "exact", "mask_resolution": list(m.shape[-2:]),
                 "images": len(pix_idx), "images_without_mask_skipped": int(n - len(pix_idx))}
    why = pixel_unavailable(n_anom, n_masked, bool(gp.any()))
    if why is not None:
        for name in (*PIXEL_METRICS, *map(aupro_name, extra_fpr_limits)):
            results[name] = MetricResult(name, None, {**pix_proto, "unavailable": why})
    else:
        if n_masked < n_anom:
            pix_proto["note"] = (f"pixel metrics over the {n_masked} of {n_anom} anomalous images that have a mask "
                                 "(and every normal image)")
        _pixel_metrics(results, m, mp, gp, pix_idx, defects, pix_proto, exact, aupro_mode, fpr_limit,
                       keep_curves, per_defect, extra_fpr_limits)
    if per_defect:
        normal_img = torch.tensor([d == NORMAL for d in defects], device=m.device)
        for kind in sorted({d for d in defects if d != NORMAL}):
            sel = normal_img | torch.tensor([d == kind for d in defects], device=m.device)
            results["image_auroc"].per_defect[kind] = image_auroc(s[sel], y[sel]).value
    t2 = time.perf_counter()
    for res in results.values():
        res.protocol["seconds_total"] = round(t2 - t0, 4)
    results["pixel_auroc"].protocol["seconds_pixel"] = round(t2 - t1, 4)
    return results


PIXEL_METRICS = ("pixel_auroc", "pixel_ap", "pixel_f1_max", "aupro")


def aupro_name(fpr_limit: float) -> str:
    """The metric name of AU-PRO at an extra FPR limit: ``aupro_fpr1`` (1.0), ``aupro_fpr0.05``."""
    return f"aupro_fpr{float(fpr_limit):g}"


def check_fpr_limits(limits) -> tuple[float, ...]:
    """Extra FPR limits as a tuple of floats in (0, 1] (a ValueError names a bad one)."""
    out = tuple(float(x) for x in (limits or ()))
    bad = [x for x in out if not 0.0 < x <= 1.0]
    if bad:
        raise ValueError(f"extra_fpr_limits must lie in (0, 1], got {bad}")
    return out


def pixel_unavailable(n_anomalous: int, n_with_mask: int, any_positive: bool) -> str | None:
    """Why pixel metrics cannot be computed (None: they can): no masks, or only empty ones."""
    if n_anomalous and not n_with_mask:
        return f"no anomalous test image has a ground-truth mask ({n_anomalous} without one)"
    if not any_positive:
        return (f"the masks of the {n_with_mask} anomalous test images are all empty" if n_with_mask
                else "the test set has no anomalous images")
    return None


def _pixel_metrics(results, m, mp, gp, pix_idx, defects, pix_proto, exact, aupro_mode, fpr_limit, keep_curves,
                   per_defect, extra_limits=()) -> None:
    """Pixel AUROC, AP, F1-max and AU-PRO (whole set and per defect type) into ``results``."""
    pix = _PixelSet(mp, gp, [defects[i] for i in pix_idx.tolist()], exact)
    full = pix.metrics(set(pix.groups), fpr_limit, keep_curves, extra_limits)
    for name in ("pixel_auroc", "pixel_ap", "pixel_f1_max"):
        results[name] = MetricResult(name, full[name], dict(pix_proto))
    if exact:
        pro_res = MetricResult("aupro", full["aupro"], {"mode": "mvtec", "fpr_limit": fpr_limit, "normalized": True,
                               "connectivity": 8, "thresholds": "exact (every distinct score)", "scope": "whole set",
                               "mask_resolution": list(m.shape[-2:])}, curve=full.get("pro_curve"))
    else:
        pro_res = aupro(mp, gp, fpr_limit=fpr_limit, mode=aupro_mode)
    if "note" in pix_proto:
        pro_res.protocol["note"] = pix_proto["note"]
    results["aupro"] = pro_res
    for lim in extra_limits:
        name = aupro_name(lim)
        extra = (MetricResult(name, full[name], {**pro_res.protocol, "fpr_limit": lim}) if exact
                 else aupro(mp, gp, fpr_limit=lim, mode=aupro_mode))
        extra.name = name
        extra.protocol["definition"] = f"area under the PRO curve over FPR [0, {lim:g}] / {lim:g} (the maps of 'aupro')"
        if "note" in pix_proto:
            extra.protocol["note"] = pix_proto["note"]
        results[name] = extra
    if not per_defect:
        return
    normal_img = torch.tensor([d == NORMAL for d in defects], device=m.device)
    for kind in sorted({d for d in defects if d != NORMAL}):
        sel = normal_img | torch.tensor([d == kind for d in defects], device=m.device)
        keep = sel[pix_idx]
        try:
            sub = pix.metrics({NORMAL, kind}, fpr_limit, False, extra_limits)
        except MetricError:
            continue  # e.g. every image of this type lacks a mask
        for name in ("pixel_auroc", "pixel_ap", "pixel_f1_max"):
            results[name].per_defect[kind] = sub[name]
        results["aupro"].per_defect[kind] = sub["aupro"] if exact else aupro(mp[keep], gp[keep], fpr_limit, aupro_mode).value
        for lim in extra_limits:
            name = aupro_name(lim)
            results[name].per_defect[kind] = sub[name] if exact else aupro(mp[keep], gp[keep], lim, aupro_mode).value


def evaluate_loco(maps, scores, masks: Sequence[torch.Tensor], anomaly_kinds: Sequence[str], defects_config,
                  orig_sizes=None, fpr_limits: Sequence[float] = SPRO_FPR_LIMITS) -> dict[str, MetricResult]:
    """MVTec LOCO protocol: image AUROC and AU-sPRO for logical and structural anomalies, each
    together with all good images, and their mean (as the official ``evaluate_experiment.py``)."""
    m = as_maps(maps, "anomaly maps")
    s = as_scores(scores, "scores", m.device)
    kinds = list(anomaly_kinds)
    if not (len(kinds) == len(masks) == s.numel() == m.shape[0]):
        raise MetricError(f"lengths disagree: {m.shape[0]} maps, {s.numel()} scores, {len(masks)} masks, {len(kinds)} kinds")
    auroc, sp = {}, {}
    spro_proto = None
    for kind in ("logical", "structural"):
        idx = [i for i, k in enumerate(kinds) if k in (NORMAL, kind)]
        if not any(kinds[i] == kind for i in idx):
            continue
        y = torch.tensor([kinds[i] == kind for i in idx])
        auroc[kind] = image_auroc(s[idx], y).value
        res = spro(m[idx], [masks[i] for i in idx], defects_config, fpr_limits,
                   [orig_sizes[i] for i in idx] if orig_sizes is not None else None)
        sp[kind], spro_proto = res.value, res.protocol
    if not auroc:
        raise MetricError("no logical or structural anomalies to evaluate")
    if len(auroc) == 2:
        auroc["mean"] = float(np.mean([auroc["logical"], auroc["structural"]]))
        sp["mean"] = {lim: float(np.mean([sp["logical"][lim], sp["structural"][lim]])) for lim in sp["logical"]}
    split_proto = {"split": "each anomaly kind together with all good test images; mean of the two"}
    return {
        "image_auroc": MetricResult("image_auroc", auroc, {"level": "image", "thresholds": "exact", **split_proto}),
        "spro": MetricResult("spro", sp, {**(spro_proto or {}), **split_proto}),
    }


def metrics_to_dict(results: dict[str, MetricResult], with_curves: bool = False) -> dict:
    """``{name: {value, protocol, per_defect[, curve]}}`` for a results JSON."""
    return {k: v.to_dict(with_curve=with_curves) for k, v in results.items()}
