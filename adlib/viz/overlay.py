"""Anomaly heatmaps over images, with the normalisation written on the figure, and mask contours.

Heatmap conventions: the perceptually uniform ``inferno`` (``cmap="jet"`` gives the papers' look), alpha 0.5,
ground truth as a contour (white with a dark edge) and the prediction as a contour of another
colour (magenta), never as filled masks, so the heatmap underneath stays readable.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib import patheffects
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from ._common import (
    HEATMAP_CMAP,
    as_map,
    as_mask,
    as_rgb,
    image_extent,
    new_figure,
    norm_label,
    resolve_range,
    style_image_axes,
)

GT_COLOR = "white"
PRED_COLOR = "magenta"
GT_LABEL = "ground truth"
PRED_LABEL = "prediction"

__all__ = [
    "GT_COLOR",
    "PRED_COLOR",
    "add_colorbar",
    "add_contours",
    "heatmap_rgba",
    "overlay_heatmap",
    "plot_map",
]


def heatmap_rgba(amap, vmin: float | None = None, vmax: float | None = None, cmap: str = HEATMAP_CMAP,
                 alpha: float = 0.5) -> np.ndarray:
    """Colour a map: ``H×W×4`` float RGBA in [0, 1]; values outside ``[vmin, vmax]`` are clipped.

    ``vmin``/``vmax`` default to the map's own min / max (per-image normalisation).
    """
    arr = as_map(amap)
    lo = float(np.nanmin(arr)) if vmin is None else float(vmin)
    hi = float(np.nanmax(arr)) if vmax is None else float(vmax)
    scaled = np.clip((arr - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(arr)
    rgba = colormaps[cmap](scaled)
    rgba[..., 3] = alpha
    return rgba


def add_contours(ax, mask, color: str = GT_COLOR, linewidth: float = 1.6, label: str | None = None,
                 frame_shape: tuple[int, int] | None = None, outline: bool = True):
    """Draw the outline of a binary mask on ``ax``; returns the ``ContourSet`` (None for an empty mask).

    ``frame_shape`` is the ``(H, W)`` of the image the axes shows; a mask of another resolution is
    stretched onto it. Regions touching the border get closed outlines. ``label`` adds a legend entry.
    """
    m = as_mask(mask)
    if not m.any():
        return None
    h, w = m.shape
    fh, fw = frame_shape if frame_shape is not None else (h, w)
    padded = np.pad(m.astype(np.float32), 1)
    xs = (np.arange(w + 2) - 0.5) * (fw / w) - 0.5
    ys = (np.arange(h + 2) - 0.5) * (fh / h) - 0.5
    effects = [patheffects.withStroke(linewidth=linewidth + 1.6, foreground="black")] if outline else None
    cs = ax.contour(xs, ys, padded, levels=[0.5], colors=[color], linewidths=linewidth)
    if effects:
        cs.set_path_effects(effects)
    if label is not None:
        ax.plot([], [], color=color, linewidth=linewidth, label=label, path_effects=effects)
    return cs


def add_colorbar(fig, ax, lo: float, hi: float, cmap: str = HEATMAP_CMAP, label: str = "anomaly score",
                 extend: str = "neither", **kwargs):
    """A colour bar for a heatmap drawn with range ``[lo, hi]`` (``ax`` may be a list of axes);
    ``kwargs`` go to ``Figure.colorbar`` (e.g. ``location="bottom"``)."""
    mappable = ScalarMappable(norm=Normalize(lo, hi), cmap=cmap)
    kwargs.setdefault("fraction", 0.046)
    kwargs.setdefault("pad", 0.03)
    cbar = fig.colorbar(mappable, ax=ax, extend=extend, **kwargs)
    cbar.set_label(label, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    return cbar


def _extend(arr: np.ndarray, lo: float, hi: float) -> str:
    below, above = bool(np.nanmin(arr) < lo), bool(np.nanmax(arr) > hi)
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get((below, above), "both")


def _figure_axes(ax, colorbar: bool):
    """(figure, axes): a new single-panel figure when ``ax`` is None, else ``ax``'s own figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(4.6 if colorbar else 4.0, 4.3)
    return fig, fig.add_subplot()


def overlay_heatmap(image, amap, norm: str = "per_image", vmin: float | None = None,
                    vmax: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5, gt=None, pred=None,
                    ax=None, title: str | None = None, colorbar: bool = True, legend: bool = True,
                    overlay: bool = True, contours: bool = True, show_norm: bool = True):
    """Anomaly map ``amap`` over ``image``; returns the figure.

    ``norm`` decides the colour range and is written under the image:

    - ``"per_image"``: the map's own min-max (RD4AD's display; every normal image looks anomalous);
    - ``"global"``: one ``vmin``/``vmax`` for the whole set, from :func:`global_range` (honest);
    - ``"fixed"``: any other explicit range (e.g. validation quantiles, or ``[0, 1]``).

    ``gt`` and ``pred`` (binary masks) are drawn as contours of different colours with a legend.
    ``overlay=False`` hides the heatmap and ``contours=False`` the contours (the widgets' toggles).
    """
    rgb = as_rgb(image)
    arr = as_map(amap)
    lo, hi = resolve_range(arr, norm, vmin, vmax)
    fig, ax = _figure_axes(ax, colorbar)
    extent = image_extent(rgb.shape)
    ax.imshow(rgb, extent=extent, interpolation="bilinear")
    if overlay:
        ax.imshow(heatmap_rgba(arr, lo, hi, cmap, alpha), extent=extent, interpolation="bilinear")
    if contours and gt is not None:
        add_contours(ax, gt, GT_COLOR, label=GT_LABEL, frame_shape=rgb.shape[:2])
    if contours and pred is not None:
        add_contours(ax, pred, PRED_COLOR, label=PRED_LABEL, frame_shape=rgb.shape[:2])
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    style_image_axes(ax)
    if title:
        ax.set_title(title, fontsize=9)
    if show_norm:
        ax.set_xlabel(norm_label(norm, lo, hi, cmap) if overlay else "heatmap hidden", fontsize=7.5)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.6, facecolor="0.3", labelcolor="white",
                  edgecolor="none", handlelength=1.5)
    if colorbar and overlay:
        add_colorbar(fig, ax, lo, hi, cmap, extend=_extend(arr, lo, hi))
    return fig


def plot_map(amap, norm: str = "per_image", vmin: float | None = None, vmax: float | None = None,
             cmap: str = HEATMAP_CMAP, gt=None, pred=None, ax=None, title: str | None = None,
             colorbar: bool = True, legend: bool = True, show_norm: bool = True):
    """An anomaly map on its own (no image underneath), with the same conventions as :func:`overlay_heatmap`."""
    arr = as_map(amap)
    lo, hi = resolve_range(arr, norm, vmin, vmax)
    fig, ax = _figure_axes(ax, colorbar)
    extent = image_extent(arr.shape)
    ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    if gt is not None:
        add_contours(ax, gt, GT_COLOR, label=GT_LABEL, frame_shape=arr.shape)
    if pred is not None:
        add_contours(ax, pred, PRED_COLOR, label=PRED_LABEL, frame_shape=arr.shape)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    style_image_axes(ax)
    if title:
        ax.set_title(title, fontsize=9)
    if show_norm:
        ax.set_xlabel(norm_label(norm, lo, hi, cmap), fontsize=7.5)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.6, facecolor="0.3", labelcolor="white",
                  edgecolor="none", handlelength=1.5)
    if colorbar:
        add_colorbar(fig, ax, lo, hi, cmap, extend=_extend(arr, lo, hi))
    return fig
