"""Two methods' maps for one image, side by side, with one shared colour range."""

from __future__ import annotations

from collections.abc import Mapping

from adlib.viz import comparison_grid, global_range
from adlib.viz._common import HEATMAP_CMAP, as_map

from ._base import View, mark_static, static_note, static_reason

SHARED, PER_IMAGE = "shared", "per_image"

__all__ = ["CompareMethods", "compare_methods"]


class CompareMethods(View):
    """Controls: ``left`` and ``right`` (method names), ``norm`` (``shared``: one range over the two
    maps shown, the honest comparison; ``per_image``: each its own min-max), ``overlay``, ``contours``.
    ``state`` holds ``left``, ``right``, ``norm`` and the range ``vmin``/``vmax`` (None if per-image)."""

    def __init__(self, image, gt, maps: Mapping[str, object], norm: str = SHARED, q: tuple[float, float] = (0.0, 1.0),
                 cmap: str = HEATMAP_CMAP, alpha: float = 0.5):
        super().__init__()
        w = self._widgets
        if not maps:
            raise ValueError("compare_methods needs at least one map")
        self.image, self.gt = image, gt
        self.maps = {str(k): as_map(v) for k, v in maps.items()}
        self.q, self.cmap, self.alpha = q, cmap, alpha
        names = list(self.maps)
        self.left = w.Dropdown(options=names, value=names[0], description="A")
        self.right = w.Dropdown(options=names, value=names[1 if len(names) > 1 else 0], description="B")
        self.norm = w.ToggleButtons(options=[SHARED, PER_IMAGE], value=norm, description="norm")
        self.overlay = w.Checkbox(value=True, description="heatmap")
        self.contours = w.Checkbox(value=True, description="contours")
        controls = [self.left, self.right, self.norm, self.overlay, self.contours]
        self._start([[self.left, self.right], [self.norm, self.overlay, self.contours]], controls)

    def compute(self) -> dict:
        left, right = self.left.value, self.right.value
        state = {"left": left, "right": right, "norm": self.norm.value, "vmin": None, "vmax": None}
        if self.norm.value == SHARED:
            state["vmin"], state["vmax"] = global_range([self.maps[left], self.maps[right]], self.q)
        return state

    def render(self):
        s = self.state
        shown = {f"A: {s['left']}": [self.maps[s["left"]]], f"B: {s['right']}": [self.maps[s["right"]]]}
        kw = dict(norm="global", vmin=s["vmin"], vmax=s["vmax"]) if s["norm"] == SHARED else dict(norm="per_image")
        return comparison_grid([self.image], [self.gt] if self.gt is not None else None, shown, **kw,
                               cmap=self.cmap, alpha=self.alpha, overlay=self.overlay.value,
                               contours=self.contours.value, cell=3.2)

    def describe(self) -> str:
        s = self.state
        if s["norm"] == SHARED:
            return (f"one colour range for A and B: [{s['vmin']:.4g}, {s['vmax']:.4g}] "
                    f"(q={self.q[0]:g}–{self.q[1]:g} of both maps)")
        return "each map uses its own min-max: colours are <b>not</b> comparable between A and B"


def compare_methods(image, gt, maps: Mapping[str, object], norm: str = SHARED, q: tuple[float, float] = (0.0, 1.0),
                    cmap: str = HEATMAP_CMAP, alpha: float = 0.5, static: bool | None = None):
    """A :class:`CompareMethods` view, or when static one comparison row with every method in ``maps``
    (shared range over all of them)."""
    reason = static_reason(static)
    if reason is None:
        return CompareMethods(image, gt, maps, norm, q, cmap, alpha)
    all_maps = {str(k): [as_map(v)] for k, v in maps.items()}
    note = static_note(reason, "all methods in one row instead of the A/B selector")
    if norm == SHARED:
        lo, hi = global_range(all_maps, q)
        kw = dict(norm="global", vmin=lo, vmax=hi)
    else:
        kw = dict(norm="per_image")
    fig = comparison_grid([image], [gt] if gt is not None else None, all_maps, **kw, cmap=cmap, alpha=alpha,
                          cell=3.0, title=note)
    return mark_static(fig, note)
