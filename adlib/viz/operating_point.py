"""One threshold for the whole test set: its point on the PRO curve, and what it does to chosen images.

AU-PRO summarises a curve; each point of the curve is one threshold applied to every image. Picking
the point by its set-level FPR (the curve's x axis) and looking at the images there shows which
defects that operating point misses and which normal images raise false alarms.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ._common import HEATMAP_CMAP, as_rgb, global_range, new_figure
from .curves import pro_curve_figure
from .overlay import overlay_heatmap

MISSED = "least covered defects"
FALSE_ALARMS = "most false positives"
SELECTIONS = (MISSED, FALSE_ALARMS)

__all__ = ["FALSE_ALARMS", "MISSED", "OperatingPoints", "SELECTIONS", "operating_point_figure"]


class OperatingPoints:
    """A test set prepared once (normal pixels sorted, ground-truth regions numbered across the set)
    so that any threshold, or the threshold of any set-level FPR, is evaluated in one pass.

    ``at(fpr=...)`` or ``at(threshold=...)`` returns ``threshold``, ``fpr`` (over every defect-free pixel
    of the set), ``pro`` (mean overlap over every region of the set: the PRO curve's y),
    ``image_pro`` (per image: the mean overlap of its regions, NaN without regions) and
    ``image_fp`` (per image: false-positive pixels).
    """

    def __init__(self, maps, masks):
        from adlib.metrics.aupro import region_labels
        from adlib.metrics.protocol import as_maps

        self.maps = as_maps(maps, "anomaly maps").float().cpu().numpy()
        self.masks = as_maps(masks, "masks", check_finite=False).cpu().numpy() > 0.5
        if self.maps.shape != self.masks.shape:
            raise ValueError(f"maps {self.maps.shape} and masks {self.masks.shape} differ in shape")
        self.neg = np.sort(self.maps[~self.masks])
        if self.neg.size == 0:
            raise ValueError("every pixel is marked defective: no false-positive rate to pick a threshold by")
        labels, self.n_regions = region_labels(torch.from_numpy(self.masks))
        self.labels = labels.numpy()
        self.area = np.bincount(self.labels.ravel(), minlength=self.n_regions + 1)
        owner = np.zeros(self.n_regions + 1, dtype=np.int64)  # the image each region belongs to
        for i, lab in enumerate(self.labels):
            owner[np.unique(lab)] = i
        self.region_image = owner[1:]

    def threshold_at(self, fpr: float) -> float:
        """The threshold that flags ``round(fpr · n)`` of the n defect-free pixels (at least one)."""
        n = self.neg.size
        k = int(np.clip(round(float(fpr) * n), 1, n))
        return float(self.neg[n - k])

    def at(self, fpr: float | None = None, threshold: float | None = None) -> dict:
        if (fpr is None) == (threshold is None):
            raise ValueError("give fpr= or threshold=")
        t = self.threshold_at(fpr) if threshold is None else float(threshold)
        pred = self.maps >= t
        fp = (pred & ~self.masks).sum(axis=(1, 2))
        hit = np.bincount(self.labels[pred], minlength=self.n_regions + 1)
        overlaps = hit[1:] / np.maximum(self.area[1:], 1)
        image_pro = np.full(len(self.maps), np.nan)
        for i in np.unique(self.region_image):
            image_pro[i] = overlaps[self.region_image == i].mean()
        return {"threshold": t, "fpr": float(fp.sum()) / self.neg.size,
                "pro": float(overlaps.mean()) if self.n_regions else float("nan"),
                "overlaps": overlaps, "image_pro": image_pro, "image_fp": fp, "pred": pred}

    def pick(self, point: dict, selection: str = MISSED, k: int = 4) -> list[int]:
        """``k`` images to look at: the anomalous ones whose regions are least covered, or the images
        with the most false-positive pixels."""
        if selection == MISSED:
            idx = np.flatnonzero(~np.isnan(point["image_pro"]))
            return [int(i) for i in idx[np.argsort(point["image_pro"][idx], kind="stable")][:k]]
        if selection == FALSE_ALARMS:
            return [int(i) for i in np.argsort(-point["image_fp"], kind="stable")[:k]]
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")


def operating_point_figure(images, points: OperatingPoints, point: dict, indices: Sequence[int], curve=None,
                           fpr_limit: float = 0.3, names: Sequence[str] | None = None, cmap: str = HEATMAP_CMAP,
                           alpha: float = 0.5, overlay: bool = True, contours: bool = True, axes=None,
                           title: str | None = None):
    """Left: the whole set's PRO curve with the operating point marked; right: the images ``indices``
    thresholded there (prediction and ground-truth contours; each image's own PRO and false-positive
    pixels in its title). One colour range for every image (``global``). ``axes`` = 1 + len(indices)
    axes to draw into (static multi-row figures)."""
    from adlib.metrics import pro_curve

    indices = list(indices)
    if axes is None:
        fig = new_figure(4.8 + 2.5 * len(indices), 3.9)
        axes = fig.subplots(1, 1 + len(indices), width_ratios=[1.9] + [1.0] * len(indices), squeeze=False)[0]
    fig = axes[0].figure
    fpr, pro = curve if curve is not None else pro_curve(points.maps, points.masks)
    default_xmax = 2 * fpr_limit if 2 * fpr_limit < 0.5 else 1.0
    pro_curve_figure({"whole set": (fpr, pro)}, fpr_limit=fpr_limit, ax=axes[0],
                     xmax=min(1.0, max(default_xmax, 1.25 * point["fpr"])),
                     title=title or "PRO curve and the operating point")
    axes[0].plot([point["fpr"]], [point["pro"]], "o", color="black", markersize=7, zorder=5)
    axes[0].annotate(f"t = {point['threshold']:.3g}\nFPR {100 * point['fpr']:.2f}%, PRO {point['pro']:.2f}",
                     (point["fpr"], point["pro"]), textcoords="offset points", xytext=(8, -28), fontsize=7.5)
    lo, hi = global_range({"maps": list(points.maps)})
    for ax, i in zip(axes[1:], indices):
        own = point["image_pro"][i]
        label = names[i] if names is not None else f"image {i}"
        head = f"{label}\nPRO {own:.2f}" if own == own else f"{label}\nno defect"
        overlay_heatmap(as_rgb(images[i]), points.maps[i], norm="global", vmin=lo, vmax=hi, cmap=cmap, alpha=alpha,
                        gt=points.masks[i], pred=point["pred"][i], ax=ax, colorbar=False, legend=False,
                        overlay=overlay, contours=contours, show_norm=False,
                        title=f"{head} · {int(point['image_fp'][i])} FP px")
    return fig
