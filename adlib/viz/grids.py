"""Multi-panel heatmap figures: method comparison grid, per-scale maps, galleries of ranked images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from scipy import ndimage

from ._common import HEATMAP_CMAP, as_map, as_mask, as_rgb, global_range, new_figure, norm_label, split_batch, style_image_axes
from .overlay import GT_COLOR, GT_LABEL, add_colorbar, add_contours, overlay_heatmap, plot_map

GRID_NORMS = ("per_image", "per_method", "global", "fixed")

__all__ = ["GRID_NORMS", "comparison_grid", "gallery", "per_scale_maps", "upsample_map"]


def _gt_legend(fig, handles_needed: bool) -> None:
    if handles_needed:
        proxy = Line2D([], [], color=GT_COLOR, linewidth=1.6, label=f"{GT_LABEL} (contour)",
                       path_effects=[patheffects.withStroke(linewidth=3.2, foreground="black")])
        fig.legend(handles=[proxy], loc="outside lower right", fontsize=8, frameon=False)


def comparison_grid(images, gts, maps: Mapping[str, object], titles: Sequence[str] | None = None,
                    norm: str = "per_method", vmin: float | None = None, vmax: float | None = None,
                    q: tuple[float, float] = (0.0, 1.0), cmap: str = HEATMAP_CMAP, alpha: float = 0.5,
                    overlay: bool = True, contours: bool = True, cell: float = 2.3, title: str | None = None):
    """Rows = samples; columns = input / GT / one column per method (``maps[name]`` = that method's maps).

    ``norm`` (written in the figure title):

    - ``"per_method"`` (default): one range per method, ``q``-quantiles over all its maps
      (methods' scores live on different scales; images stay comparable within a column);
    - ``"global"``: one range for every map of every method (``vmin``/``vmax`` or computed);
    - ``"fixed"``: the given ``vmin``/``vmax``; ``"per_image"``: each cell its own min-max.
    ``gts=None`` drops the GT column; ``title`` goes above the normalisation line.
    """
    if norm not in GRID_NORMS:
        raise ValueError(f"norm must be one of {GRID_NORMS}, got {norm!r}")
    imgs = split_batch(images, "images")
    masks = split_batch(gts, "gts") if gts is not None else None
    per_method = {name: split_batch(m, f"maps[{name!r}]") for name, m in maps.items()}
    n = len(imgs)
    for name, ms in per_method.items():
        if len(ms) != n:
            raise ValueError(f"maps[{name!r}] has {len(ms)} maps for {n} images")
    if masks is not None and len(masks) != n:
        raise ValueError(f"{len(masks)} ground truths for {n} images")
    if not per_method:
        raise ValueError("comparison_grid needs at least one method in maps")

    ranges: dict[str, tuple[float, float]] = {}
    if norm == "per_method":
        ranges = {name: global_range(ms, q) for name, ms in per_method.items()}
        head = f"norm: per-method global (q={q[0]:g}–{q[1]:g} over each method's maps) · cmap: {cmap}"
    elif norm in ("global", "fixed"):
        if vmin is None or vmax is None:
            if norm == "fixed":
                raise ValueError("norm='fixed' needs vmin and vmax")
            vmin, vmax = global_range(per_method, q)
        ranges = {name: (float(vmin), float(vmax)) for name in per_method}
        shared = " (shared by all methods)" if norm == "global" and len(per_method) > 1 else ""
        head = f"{norm_label(norm, vmin, vmax)}{shared} · cmap: {cmap}"
    else:
        head = f"norm: per-image min-max (each cell its own range) · cmap: {cmap}"

    lead = 1 + (masks is not None)
    ncols = lead + len(per_method)
    fig = new_figure(cell * ncols + 0.8, cell * n + 0.9)
    axes = np.asarray(fig.subplots(n, ncols, squeeze=False))
    for r in range(n):
        rgb = as_rgb(imgs[r])
        axes[r, 0].imshow(rgb, interpolation="bilinear")
        style_image_axes(axes[r, 0])
        if titles is not None:
            axes[r, 0].set_ylabel(str(titles[r]), fontsize=8)
        gt = None
        if masks is not None:
            gt = masks[r]
            m = as_mask(gt) if gt is not None else np.zeros(rgb.shape[:2], bool)
            axes[r, 1].imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            style_image_axes(axes[r, 1])
        for c, (name, ms) in enumerate(per_method.items(), start=lead):
            if norm == "per_image":
                kw = dict(norm="per_image")
            else:
                kw = dict(norm="fixed", vmin=ranges[name][0], vmax=ranges[name][1])
            overlay_heatmap(rgb, ms[r], **kw, cmap=cmap, alpha=alpha, gt=gt, ax=axes[r, c], colorbar=False,
                            legend=False, overlay=overlay, contours=contours, show_norm=norm == "per_image")
            if norm == "per_image":  # short range label under each cell
                a = as_map(ms[r])
                axes[r, c].set_xlabel(f"[{a.min():.3g}, {a.max():.3g}]", fontsize=7)
    headers = ["input"] + (["ground truth"] if masks is not None else []) + list(per_method)
    for c, h in enumerate(headers):
        axes[0, c].set_title(h, fontsize=9)
    if overlay and norm == "per_method":
        for c, name in enumerate(per_method, start=lead):
            lo, hi = ranges[name]
            add_colorbar(fig, list(axes[:, c]), lo, hi, cmap=cmap, label=f"{name} score",
                         location="bottom", shrink=0.9, aspect=18, fraction=0.05 / n, pad=0.02 / n)
    elif overlay and norm in ("global", "fixed"):
        add_colorbar(fig, list(axes[:, lead:].ravel()), vmin, vmax, cmap=cmap)
    head = head if overlay else "heatmaps hidden"
    fig.suptitle(f"{title}\n{head}" if title else head, fontsize=9)
    _gt_legend(fig, contours and masks is not None and any(g is not None and as_mask(g).any() for g in masks))
    return fig


def upsample_map(amap, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an ``h×w`` map to ``size`` with corners aligned (RD4AD's
    ``F.interpolate(..., mode="bilinear", align_corners=True)``)."""
    arr = as_map(amap)
    if arr.shape == tuple(size):
        return arr
    return ndimage.zoom(arr, (size[0] / arr.shape[0], size[1] / arr.shape[1]), order=1, grid_mode=False)


def per_scale_maps(maps: Sequence, image=None, names: Sequence[str] | None = None, norm: str = "per_map",
                   combine: str = "sum", size: tuple[int, int] | None = None, gt=None, cmap: str = HEATMAP_CMAP,
                   alpha: float = 0.5, cell: float = 2.6):
    """The per-level maps of an RD-style model side by side, then their combination.

    Maps of different resolutions are upsampled (bilinear, aligned corners) to ``size`` (default: the
    image's size, else the largest map), then combined by ``"sum"`` (RD4AD ``amap_mode='a'``) or
    ``"product"`` (``'mul'``). ``norm="per_map"``: each panel its own min-max; ``"shared"``: the
    levels share one range (the combination keeps its own, it lives on another scale).
    """
    if norm not in ("per_map", "shared"):
        raise ValueError(f"norm must be 'per_map' or 'shared', got {norm!r}")
    if combine not in ("sum", "product"):
        raise ValueError(f"combine must be 'sum' or 'product', got {combine!r}")
    levels = [as_map(m) for m in maps]
    if not levels:
        raise ValueError("per_scale_maps needs at least one map")
    rgb = as_rgb(image) if image is not None else None
    if size is None:
        size = rgb.shape[:2] if rgb is not None else max((m.shape for m in levels), key=lambda s: s[0] * s[1])
    up = [upsample_map(m, size) for m in levels]
    total = np.sum(up, axis=0) if combine == "sum" else np.prod(up, axis=0)
    names = list(names) if names is not None else [f"level {i + 1}" for i in range(len(levels))]
    if len(names) != len(levels):
        raise ValueError(f"{len(names)} names for {len(levels)} maps")
    panels = list(zip(names, up)) + [(combine, total)]
    shared = (min(m.min() for m in up), max(m.max() for m in up))
    fig = new_figure(cell * len(panels) + 0.6, 0.8 * cell + 1.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for i, (ax, (name, m)) in enumerate(zip(axes, panels)):
        lo, hi = (m.min(), m.max()) if norm == "per_map" or i == len(levels) else shared
        src = levels[i].shape if i < len(levels) else size
        title = f"{name} ({src[0]}×{src[1]})" if i < len(levels) else f"{name} of {len(levels)} levels"
        kw = dict(norm="fixed", vmin=lo, vmax=hi, cmap=cmap, gt=gt, ax=ax, title=title, legend=i == 0,
                  show_norm=False)
        if rgb is not None:
            overlay_heatmap(rgb, m, alpha=alpha, **kw)
        else:
            plot_map(m, **kw)
        ax.set_xlabel(f"[{lo:.3g}, {hi:.3g}]", fontsize=7.5)
    how = "per-map min-max" if norm == "per_map" else "levels share one range, the combination its own"
    fig.suptitle(f"norm: {how} · cmap: {cmap} · maps upsampled to {size[0]}×{size[1]} "
                 f"(bilinear) then {'summed' if combine == 'sum' else 'multiplied'}", fontsize=9)
    return fig


def gallery(images, maps, groups: Mapping[str, Sequence[int]], scores=None, labels=None, gts=None,
            norm: str = "global", vmin: float | None = None, vmax: float | None = None,
            q: tuple[float, float] = (0.0, 1.0), cmap: str = HEATMAP_CMAP, alpha: float = 0.5, cell: float = 2.2,
            title: str | None = None):
    """Rows of overlays picked by index, e.g. ``{"highest scores": [...], "missed": [...]}``.

    Each cell is titled with the image index, its score and label. ``norm="global"`` (default) uses
    one range for all ``maps`` (``vmin``/``vmax`` or :func:`global_range` with ``q``).
    """
    imgs, ms = split_batch(images, "images"), split_batch(maps, "maps")
    masks = split_batch(gts, "gts") if gts is not None else [None] * len(imgs)
    sc = np.asarray([float(s) for s in split_batch(scores)]) if scores is not None else None
    lb = [int(v) for v in split_batch(labels)] if labels is not None else None
    if norm == "global" and (vmin is None or vmax is None):
        vmin, vmax = global_range(ms, q)
    rows = {k: list(v) for k, v in groups.items()}
    ncols = max([len(v) for v in rows.values()] + [1])
    fig = new_figure(cell * ncols + 0.9, cell * max(len(rows), 1) + 0.9)
    axes = np.asarray(fig.subplots(max(len(rows), 1), ncols, squeeze=False))
    for r, (group, idxs) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(idxs):
                ax.set_axis_off()
                continue
            i = int(idxs[c])
            head = f"#{i}" + (f" · score {sc[i]:.3g}" if sc is not None else "")
            cell_title = head + ("\n" + ("anomalous" if lb[i] else "normal") if lb is not None else "")
            kw = dict(norm=norm) if norm == "per_image" else dict(norm=norm, vmin=vmin, vmax=vmax)
            overlay_heatmap(imgs[i], ms[i], **kw, cmap=cmap, alpha=alpha, gt=masks[i], ax=ax, colorbar=False,
                            legend=False, title=cell_title, show_norm=norm == "per_image")
        if not idxs:
            axes[r, 0].set_axis_off()
            axes[r, 0].text(0.5, 0.5, "(none)", ha="center", va="center", transform=axes[r, 0].transAxes)
        axes[r, 0].set_ylabel(group, fontsize=9)
    if norm != "per_image":
        used = [ax for ax in axes.ravel() if ax.axison]
        if used:
            add_colorbar(fig, used, vmin, vmax, cmap=cmap)
    head = norm_label(norm, vmin, vmax, cmap) if norm != "per_image" else f"norm: per-image min-max · cmap: {cmap}"
    fig.suptitle(f"{title}\n{head}" if title else head, fontsize=9)
    _gt_legend(fig, any(g is not None and as_mask(g).any() for g in masks))
    return fig


def sample_grid(images, gts=None, titles: Sequence[str] | None = None, ncols: int = 6, cell: float = 2.0,
                title: str | None = None):
    """Dataset samples side by side, ground-truth masks drawn as contours (no anomaly maps)."""
    imgs = split_batch(images, "images")
    masks = split_batch(gts, "gts") if gts is not None else [None] * len(imgs)
    if len(masks) != len(imgs):
        raise ValueError(f"{len(masks)} ground truths for {len(imgs)} images")
    ncols = max(1, min(ncols, len(imgs)))
    nrows = -(-len(imgs) // ncols)
    fig = new_figure(cell * ncols, cell * nrows + 0.5)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        style_image_axes(ax)
        if i >= len(imgs):
            ax.set_visible(False)
            continue
        rgb = as_rgb(imgs[i])
        ax.imshow(rgb, interpolation="bilinear")
        if masks[i] is not None and as_mask(masks[i]).any():
            add_contours(ax, masks[i], GT_COLOR, frame_shape=rgb.shape[:2])
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
