"""A cursor on the whole set's PRO curve: one threshold for every image, the images it fails on."""

from __future__ import annotations

import math
from collections.abc import Sequence

from adlib.viz._common import HEATMAP_CMAP
from adlib.viz import new_figure
from adlib.viz.operating_point import MISSED, SELECTIONS, OperatingPoints, operating_point_figure

from ._base import View, mark_static, static_note, static_reason

__all__ = ["ProCurveExplorer", "pro_curve_explorer"]


class ProCurveExplorer(View):
    """Controls: ``fpr`` (log slider: the set-level false-positive rate that picks the threshold),
    ``selection`` (least covered defects / most false positives), ``overlay``, ``contours``.

    ``state`` holds the operating point (``threshold``, ``fpr``, ``pro``, per-image ``image_pro`` and
    ``image_fp``) and ``indices``, the images shown.
    """

    def __init__(self, images, maps, masks, fpr: float = 0.05, fpr_limit: float = 0.3, k: int = 4,
                 names: Sequence[str] | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5):
        super().__init__()
        w = self._widgets
        from adlib.metrics import pro_curve

        self.images, self.names, self.k, self.fpr_limit, self.cmap, self.alpha = images, names, k, fpr_limit, cmap, alpha
        self.points = OperatingPoints(maps, masks)
        self.curve = pro_curve(self.points.maps, self.points.masks)
        lowest = max(1.0 / self.points.neg.size, 1e-6)
        self.fpr = w.FloatLogSlider(value=min(max(fpr, lowest), 1.0), base=10, min=math.log10(lowest), max=0.0,
                                    step=0.02, description="set FPR", readout_format=".3g",
                                    continuous_update=False, layout=w.Layout(width="480px"))
        self.selection = w.ToggleButtons(options=list(SELECTIONS), value=MISSED, description="show")
        self.overlay = w.Checkbox(value=True, description="heatmap")
        self.contours = w.Checkbox(value=True, description="contours")
        controls = [self.fpr, self.selection, self.overlay, self.contours]
        self._start([[self.fpr], [self.selection], [self.overlay, self.contours]], controls)

    def compute(self) -> dict:
        point = self.points.at(fpr=self.fpr.value)
        point["indices"] = self.points.pick(point, self.selection.value, self.k)
        return point

    def render(self):
        return operating_point_figure(self.images, self.points, self.state, self.state["indices"], curve=self.curve,
                                      fpr_limit=self.fpr_limit, names=self.names, cmap=self.cmap, alpha=self.alpha,
                                      overlay=self.overlay.value, contours=self.contours.value)

    def describe(self) -> str:
        s = self.state
        missed = int((s["overlaps"] < 0.5).sum())
        return (f"<b>threshold {s['threshold']:.4g}</b>: set FPR {100 * s['fpr']:.2f}%, PRO {s['pro']:.3f} "
                f"({missed} of {len(s['overlaps'])} regions less than half covered)")


def pro_curve_explorer(images, maps, masks, fpr: float = 0.05, fpr_limit: float = 0.3, k: int = 4,
                       names: Sequence[str] | None = None, fprs: Sequence[float] | None = None,
                       cmap: str = HEATMAP_CMAP, alpha: float = 0.5, static: bool | None = None):
    """A :class:`ProCurveExplorer`, or when static one row per set FPR in ``fprs`` (default 0.01,
    0.05 and ``fpr_limit``), each showing the ``k`` least covered defects at that operating point."""
    reason = static_reason(static)
    if reason is None:
        return ProCurveExplorer(images, maps, masks, fpr, fpr_limit, k, names, cmap, alpha)
    from adlib.metrics import pro_curve

    points = OperatingPoints(maps, masks)
    curve = pro_curve(points.maps, points.masks)
    fprs = list(fprs) if fprs is not None else [0.01, 0.05, fpr_limit]
    fig = new_figure(4.8 + 2.5 * k, 3.9 * len(fprs) + 0.4)
    rows = fig.subplots(len(fprs), 1 + k, width_ratios=[1.9] + [1.0] * k, squeeze=False)
    for row, f in zip(rows, fprs):
        point = points.at(fpr=f)
        idx = points.pick(point, MISSED, k)
        for ax in row[1 + len(idx):]:
            ax.set_visible(False)
        operating_point_figure(images, points, point, idx, curve=curve, fpr_limit=fpr_limit, names=names, cmap=cmap,
                               alpha=alpha, axes=row[:1 + len(idx)], title=f"set FPR {f:g}")
    note = static_note(reason, f"{len(fprs)} fixed operating points instead of the slider")
    fig.suptitle(note, fontsize=9)
    return mark_static(fig, note)
