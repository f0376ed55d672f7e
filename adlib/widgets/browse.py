"""Browse test images sorted by anomaly score, with "worst false positives" / "missed" shortcuts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adlib.viz._common import HEATMAP_CMAP
from adlib.viz import gallery, global_range, new_figure, overlay_heatmap
from adlib.viz._common import as_map, as_numpy, split_batch

from ._base import View, mark_static, static_note, static_reason

DESCENDING, ASCENDING = "highest first", "lowest first"
ALL, NORMAL, ANOMALOUS = "all", "normal", "anomalous"
WORST_FP, MISSED = "worst false positives", "missed anomalies"
SUBSETS = (ALL, NORMAL, ANOMALOUS, WORST_FP, MISSED)

__all__ = ["BrowseByScore", "browse_by_score", "ranking"]


def ranking(scores, labels=None, subset: str = ALL, order: str = DESCENDING) -> np.ndarray:
    """Indices of the images in ``subset``, sorted by score (ties keep dataset order).

    ``"worst false positives"`` = normal images, highest score first; ``"missed anomalies"`` =
    anomalous images, lowest score first (both ignore ``order``: that is what the shortcut means).
    """
    s = as_numpy(scores).astype(np.float64).ravel()
    idx = np.arange(s.size)
    if subset != ALL:
        if labels is None:
            raise ValueError(f"subset {subset!r} needs labels")
        y = as_numpy(labels).astype(np.int64).ravel()
        if subset in (NORMAL, WORST_FP):
            idx = idx[y == 0]
        elif subset in (ANOMALOUS, MISSED):
            idx = idx[y == 1]
        else:
            raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
        if subset == WORST_FP:
            order = DESCENDING
        elif subset == MISSED:
            order = ASCENDING
    key = -s[idx] if order == DESCENDING else s[idx]
    return idx[np.argsort(key, kind="stable")]


class BrowseByScore(View):
    """Controls: ``rank`` (1 = first in the current order), ``order``, ``subset`` (with labels),
    ``norm`` (global / per-image, to see what per-image min-max does to normal images),
    ``overlay`` and ``contours``. ``state["index"]`` is the dataset index on display."""

    def __init__(self, images, maps, scores, gts=None, labels=None, names: Sequence[str] | None = None,
                 threshold: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5,
                 q: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        w = self._widgets
        self.images = split_batch(images, "images")
        self.maps = [as_map(m) for m in split_batch(maps, "maps")]
        self.scores = as_numpy(scores).astype(np.float64).ravel()
        self.gts = split_batch(gts, "gts") if gts is not None else None
        self.labels = as_numpy(labels).astype(np.int64).ravel() if labels is not None else None
        self.names = list(names) if names is not None else None
        n = len(self.images)
        if not (len(self.maps) == self.scores.size == n):
            raise ValueError(f"{n} images, {len(self.maps)} maps and {self.scores.size} scores differ in number")
        self.threshold, self.cmap, self.alpha = threshold, cmap, alpha
        self.vmin, self.vmax = global_range(self.maps, q)
        self.q = q
        self.rank = w.IntSlider(value=1, min=1, max=max(n, 1), description="rank", continuous_update=False)
        self.order = w.ToggleButtons(options=[DESCENDING, ASCENDING], value=DESCENDING, description="order")
        subsets = list(SUBSETS) if self.labels is not None else [ALL]
        self.subset = w.Dropdown(options=subsets, value=ALL, description="show",
                                 layout=w.Layout(display=None if self.labels is not None else "none"))
        self.norm = w.ToggleButtons(options=["global", "per_image"], value="global", description="norm")
        self.overlay = w.Checkbox(value=True, description="heatmap")
        self.contours = w.Checkbox(value=True, description="contours")
        # shortcuts first: they adjust order / rank before the generic observer re-renders
        self.subset.observe(self._on_subset, names="value")
        self.order.observe(self._on_order, names="value")
        controls = [self.rank, self.order, self.subset, self.norm, self.overlay, self.contours]
        self._start([[self.rank, self.subset], [self.order, self.norm], [self.overlay, self.contours]], controls)

    def _on_subset(self, change) -> None:
        with self.hold():
            if change["new"] == WORST_FP:
                self.order.value = DESCENDING
            elif change["new"] == MISSED:
                self.order.value = ASCENDING
            self.rank.value = 1

    def _on_order(self, change) -> None:
        with self.hold():
            self.rank.value = 1

    @property
    def index(self) -> int | None:
        """Dataset index of the image on display (None for an empty subset)."""
        return self.state.get("index")

    def compute(self) -> dict:
        order = ranking(self.scores, self.labels, self.subset.value, self.order.value)
        n = order.size
        with self.hold():
            self.rank.max = max(n, 1)
            self.rank.disabled = n <= 1
        r = min(max(self.rank.value, 1), max(n, 1))
        state = {"ranking": order.tolist(), "n": n, "rank": r, "subset": self.subset.value,
                 "order": self.order.value, "norm": self.norm.value, "index": None}
        if n:
            i = int(order[r - 1])
            state.update(index=i, score=float(self.scores[i]),
                         label=None if self.labels is None else int(self.labels[i]))
        return state

    def render(self):
        s = self.state
        if s["index"] is None:
            fig = new_figure(4.0, 1.2)
            fig.text(0.5, 0.5, f"no images in '{s['subset']}'", ha="center", va="center")
            return fig
        i = s["index"]
        label = "" if s["label"] is None else (" · anomalous" if s["label"] else " · normal")
        title = f"rank {s['rank']}/{s['n']} ({s['subset']}, {s['order']})\nimage #{i} · score {s['score']:.4g}{label}"
        kw = dict(norm="global", vmin=self.vmin, vmax=self.vmax) if s["norm"] == "global" else dict(norm="per_image")
        pred = self.maps[i] >= self.threshold if self.threshold is not None else None
        return overlay_heatmap(self.images[i], self.maps[i], **kw, cmap=self.cmap, alpha=self.alpha,
                               gt=self.gts[i] if self.gts is not None else None, pred=pred, title=title,
                               overlay=self.overlay.value, contours=self.contours.value)

    def describe(self) -> str:
        s = self.state
        if s["index"] is None:
            return ""
        name = f" — <code>{self.names[s['index']]}</code>" if self.names is not None else ""
        return f"image #{s['index']}{name}"


def browse_by_score(images, maps, scores, gts=None, labels=None, names: Sequence[str] | None = None,
                    threshold: float | None = None, cmap: str = HEATMAP_CMAP, alpha: float = 0.5,
                    q: tuple[float, float] = (0.0, 1.0), k: int = 6, static: bool | None = None):
    """Browse ``images`` by anomaly score: a :class:`BrowseByScore` view, or, when static (see
    :func:`adlib.widgets.static_reason`), a figure with the ``k`` highest-scoring images and, given
    ``labels``, the ``k`` worst false positives and ``k`` missed anomalies."""
    reason = static_reason(static)
    if reason is None:
        return BrowseByScore(images, maps, scores, gts, labels, names, threshold, cmap, alpha, q)
    groups = {"highest scores": ranking(scores)[:k].tolist()}
    if labels is not None:
        groups[WORST_FP] = ranking(scores, labels, WORST_FP)[:k].tolist()
        groups[MISSED] = ranking(scores, labels, MISSED)[:k].tolist()
    note = static_note(reason, f"the first {k} of each ranking instead of the score browser")
    fig = gallery(images, maps, groups, scores=scores, labels=labels, gts=gts, norm="global", q=q, cmap=cmap,
                  alpha=alpha, title=note)
    return mark_static(fig, note)
