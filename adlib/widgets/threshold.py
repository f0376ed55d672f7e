"""Threshold slider: predicted mask vs ground truth, live per-region overlap and pixel FPR."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from adlib.viz._common import HEATMAP_CMAP
from adlib.viz import new_figure, threshold_figure, threshold_stats, upsample_map
from adlib.viz._common import as_map

from ._base import View, mark_static, static_note, static_reason

COMBINED = "combined"

__all__ = ["ThresholdExplorer", "threshold_explorer"]


def _choices(amap, per_scale) -> dict[str, np.ndarray]:
    if hasattr(amap, "maps") and hasattr(amap, "parts"):  # a method's Prediction of one image: its parts
        per_scale = amap.parts if per_scale is None else per_scale
        amap = amap.maps
    main = as_map(amap)
    maps = {COMBINED: main}
    if per_scale is None:
        return maps
    items = per_scale.items() if isinstance(per_scale, Mapping) else (
        (f"level {i + 1}", m) for i, m in enumerate(per_scale))
    for name, m in items:
        maps[str(name)] = upsample_map(m, main.shape)  # levels at lower resolution → map size
    return maps


def _slider_range(m: np.ndarray) -> tuple[float, float, float]:
    lo, hi = float(m.min()), float(m.max())
    if not hi > lo:
        hi = lo + 1e-6
    return lo, hi, (hi - lo) / 200


class ThresholdExplorer(View):
    """Controls: ``threshold`` (FloatSlider over the shown map's range), ``scale`` (which map: the
    combined one or a per-scale level, when ``per_scale`` is given — or ``amap`` is a one-image
    ``Prediction``, whose named ``parts`` are then the choices), ``overlay``, ``contours``.

    ``state`` holds ``threshold``, ``overlaps`` (per GT region), ``fpr``, ``pro``, ``n_regions`` and
    ``map`` (the name of the map thresholded).
    """

    def __init__(self, image, amap, gt, per_scale=None, threshold: float | None = None, norm: str = "per_image",
                 vmin: float | None = None, vmax: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5):
        super().__init__()
        w = self._widgets
        self.image, self.gt = image, gt
        self.maps = _choices(amap, per_scale)
        self.norm, self.vmin, self.vmax, self.cmap, self.alpha = norm, vmin, vmax, cmap, alpha
        lo, hi, step = _slider_range(self.maps[COMBINED])
        start = (lo + hi) / 2 if threshold is None else float(np.clip(threshold, lo, hi))
        self.threshold = w.FloatSlider(value=start, min=lo, max=hi, step=step, description="threshold",
                                       readout_format=".4g", continuous_update=False,
                                       layout=w.Layout(width="480px"))
        self.scale = w.ToggleButtons(options=list(self.maps), value=COMBINED, description="map",
                                     layout=w.Layout(display=None if len(self.maps) > 1 else "none"))
        self.overlay = w.Checkbox(value=True, description="heatmap")
        self.contours = w.Checkbox(value=True, description="contours")
        self.scale.observe(self._on_scale, names="value")
        controls = [self.threshold, self.scale, self.overlay, self.contours]
        self._start([[self.threshold], [self.scale], [self.overlay, self.contours]], controls)

    def _on_scale(self, change) -> None:
        """Keep the slider's relative position when switching to a map with another range."""
        old_lo, old_hi = self.threshold.min, self.threshold.max
        rel = (self.threshold.value - old_lo) / (old_hi - old_lo) if old_hi > old_lo else 0.5
        lo, hi, step = _slider_range(self.maps[change["new"]])
        with self.hold():
            # widen first so that min <= value <= max holds at every step
            self.threshold.min, self.threshold.max = min(lo, old_lo), max(hi, old_hi)
            self.threshold.value = lo + rel * (hi - lo)
            self.threshold.min, self.threshold.max, self.threshold.step = lo, hi, step

    def current_map(self) -> np.ndarray:
        return self.maps[self.scale.value]

    def compute(self) -> dict:
        stats = threshold_stats(self.current_map(), self.gt, self.threshold.value)
        stats["map"] = self.scale.value
        return stats

    def _norm_kwargs(self) -> dict:
        if self.scale.value == COMBINED and self.norm != "per_image":
            return dict(norm=self.norm, vmin=self.vmin, vmax=self.vmax)
        return dict(norm="per_image")  # the levels live on their own scales

    def render(self):
        return threshold_figure(self.image, self.current_map(), self.gt, self.state["threshold"],
                                **self._norm_kwargs(), cmap=self.cmap, alpha=self.alpha,
                                overlay=self.overlay.value, contours=self.contours.value, stats=self.state)

    def describe(self) -> str:
        s = self.state
        rows = "".join(f"<li>region {k}: {100 * v:.1f}%</li>" for k, v in enumerate(s["overlaps"], start=1))
        pro = f"{s['pro']:.3f}" if s["n_regions"] else "n/a"
        return (f"<b>threshold {s['threshold']:.4g}</b> on <i>{s['map']}</i> map — pixel FPR "
                f"{100 * s['fpr']:.2f}% ({s['false_positive_pixels']} px), PRO {pro}"
                + (f"<ul style='margin:0'>{rows}</ul>" if rows else " (no ground-truth regions)"))


def threshold_explorer(image, amap, gt, per_scale=None, threshold: float | None = None, norm: str = "per_image",
                       vmin: float | None = None, vmax: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5,
                       thresholds: Sequence[float] | None = None, static: bool | None = None):
    """A :class:`ThresholdExplorer`, or when static a figure with one row per threshold in
    ``thresholds`` (default: 25 %, 50 % and 75 % of the map's range)."""
    reason = static_reason(static)
    if reason is None:
        return ThresholdExplorer(image, amap, gt, per_scale, threshold, norm, vmin, vmax, cmap, alpha)
    m = as_map(amap)
    if thresholds is None:
        thresholds = [float(v) for v in np.linspace(m.min(), m.max(), 5)[1:-1]]
    fig = new_figure(8.6, 3.9 * len(thresholds) + 0.4)
    axes = fig.subplots(len(thresholds), 2, squeeze=False, width_ratios=[1.15, 1])
    for row, t in zip(axes, thresholds):
        threshold_figure(image, m, gt, t, norm=norm, vmin=vmin, vmax=vmax, cmap=cmap, alpha=alpha, axes=tuple(row))
    note = static_note(reason, f"{len(thresholds)} fixed thresholds instead of the slider")
    fig.suptitle(note, fontsize=9)
    return mark_static(fig, note)
