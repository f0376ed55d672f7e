"""What a threshold does to one image: predicted mask vs ground truth and the per-region overlap.

The per-region overlap is the quantity PRO averages (``adlib.metrics.regions.region_overlaps``);
the pixel FPR is the x axis of the PRO curve. Seeing both for one image at one threshold is the
quickest way to understand why AUPRO rewards small defects that pixel AUROC barely notices.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps, patheffects
from scipy import ndimage

from ._common import HEATMAP_CMAP, as_map, as_mask, as_rgb, new_figure, resolve_range
from .overlay import overlay_heatmap

MAX_BARS = 30

__all__ = ["threshold_figure", "threshold_stats"]


def threshold_stats(amap, gt, threshold: float) -> dict:
    """Predicted mask ``amap >= threshold`` against the ground truth ``gt``.

    Returns ``threshold``, ``pred`` (bool H×W), ``overlaps`` (one value per connected GT region,
    8-connectivity), ``n_regions``, ``pro`` (their mean, NaN without regions), ``fpr`` (pixel false
    positive rate over the normal pixels) and ``pixel_tpr``.
    """
    from adlib.metrics.regions import region_overlaps  # lazy: keeps `import adlib.viz` light

    arr = as_map(amap)
    mask = as_mask(gt) if gt is not None else np.zeros(arr.shape, bool)
    if mask.shape != arr.shape:
        raise ValueError(f"map {arr.shape} and ground truth {mask.shape} differ in shape; resize one first")
    pred = arr >= threshold
    overlaps = region_overlaps(pred, mask)
    normal = ~mask
    fp = int((pred & normal).sum())
    return {
        "threshold": float(threshold),
        "pred": pred,
        "overlaps": overlaps,
        "n_regions": int(overlaps.size),
        "pro": float(overlaps.mean()) if overlaps.size else float("nan"),
        "fpr": fp / max(int(normal.sum()), 1),
        "pixel_tpr": int((pred & mask).sum()) / max(int(mask.sum()), 1),
        "false_positive_pixels": fp,
    }


def _number_regions(ax, gt, frame_shape) -> None:
    from adlib.metrics.regions import label_regions

    labels, n = label_regions(as_mask(gt))
    if n == 0:
        return
    sy, sx = frame_shape[0] / labels.shape[0], frame_shape[1] / labels.shape[1]
    centres = ndimage.center_of_mass(labels > 0, labels, range(1, n + 1))
    for k, (cy, cx) in enumerate(centres, start=1):
        ax.text(cx * sx, cy * sy, str(k), color="white", fontsize=8, fontweight="bold", ha="center",
                va="center", path_effects=[patheffects.withStroke(linewidth=2.5, foreground="black")])


def threshold_figure(image, amap, gt, threshold: float, norm: str = "per_image", vmin: float | None = None,
                     vmax: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5, overlay: bool = True,
                     contours: bool = True, axes=None, stats: dict | None = None):
    """Left: overlay with GT (numbered regions) and prediction contours; right: per-region overlap bars.

    The heading gives the threshold, the pixel FPR and PRO (the mean overlap) at that threshold.
    ``axes=(ax_image, ax_bars)`` draws into existing axes (used for static multi-threshold figures).
    """
    s = stats if stats is not None else threshold_stats(amap, gt, threshold)
    arr = as_map(amap)
    if axes is None:
        fig = new_figure(8.6, 4.3)
        ax_img, ax_bar = fig.subplots(1, 2, width_ratios=[1.15, 1])
    else:
        ax_img, ax_bar = axes
        fig = ax_img.figure
    frame = as_rgb(image).shape[:2]
    overlay_heatmap(image, arr, norm=norm, vmin=vmin, vmax=vmax, cmap=cmap, alpha=alpha, gt=gt, pred=s["pred"],
                    ax=ax_img, overlay=overlay, contours=contours,
                    title=f"threshold {s['threshold']:.3g} · pixel FPR {100 * s['fpr']:.2f}%")
    if contours and gt is not None:
        _number_regions(ax_img, gt, frame)
    lo, hi = resolve_range(arr, norm, vmin, vmax)
    _overlap_bars(ax_bar, s["overlaps"])
    pro = "n/a (no GT regions)" if not s["n_regions"] else f"{s['pro']:.3f}"
    ax_bar.set_title(f"per-region overlap · PRO (mean) {pro}", fontsize=9)
    if axes is None:
        share = (arr >= s["threshold"]).mean()
        fig.suptitle(f"pred = map ≥ {s['threshold']:.3g} ({100 * share:.1f}% of pixels; map range "
                     f"[{arr.min():.3g}, {arr.max():.3g}], colour range [{lo:.3g}, {hi:.3g}])", fontsize=8.5)
    return fig


def _overlap_bars(ax, overlaps: np.ndarray) -> None:
    n = overlaps.size
    ax.set_xlim(0, 1.16)
    ax.set_xlabel("overlap |pred ∩ region| / |region|", fontsize=8)
    ax.tick_params(labelsize=7)
    if n == 0:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no ground-truth regions\n(a normal image: only FPR matters)", ha="center",
                va="center", fontsize=8, transform=ax.transAxes)
        return
    shown = overlaps[:MAX_BARS]
    ys = np.arange(1, shown.size + 1)
    colours = colormaps["RdYlGn"](0.1 + 0.8 * shown)
    ax.barh(ys, shown, color=colours, edgecolor="0.3", linewidth=0.5)
    for y, v in zip(ys, shown):
        ax.text(min(v, 1.0) + 0.01, y, f"{100 * v:.0f}%", va="center", fontsize=7)
    ax.axvline(float(overlaps.mean()), color="0.2", linestyle="--", linewidth=1, label="mean (PRO)")
    ax.set_yticks(ys, [f"region {k}" for k in ys])
    ax.set_ylim(shown.size + 0.7, 0.3)
    ax.legend(loc="lower right", fontsize=7)
    if n > MAX_BARS:
        ax.text(0.98, 0.02, f"first {MAX_BARS} of {n} regions", ha="right", fontsize=7, transform=ax.transAxes)
