"""Image-score distributions of normal vs anomalous test images (as MRKD Fig. 6).

seaborn draws the histograms and KDEs from plain numpy arrays (no DataFrame is built).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._common import as_numpy, new_figure

COLORS = ("tab:blue", "tab:red")
NAMES = ("normal", "anomalous")

__all__ = ["score_distributions", "score_distributions_grid"]


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    if labels.min() == labels.max():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def score_distributions(scores, labels, ax=None, bins: int = 30, kde: bool = True, title: str | None = None,
                        names: tuple[str, str] = NAMES, colors: tuple[str, str] = COLORS,
                        threshold: float | None = None, legend: bool = True):
    """Histogram (density, shared bins) + KDE of the scores of each class; AUROC in the title.

    ``threshold`` draws a vertical line (e.g. the F1-optimal image threshold).
    """
    import seaborn as sns

    s = as_numpy(scores).astype(np.float64).ravel()
    y = as_numpy(labels).astype(np.int64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores for {y.size} labels")
    if s.size == 0:
        raise ValueError("score_distributions needs at least one score")
    if ax is None:
        fig = new_figure(5.2, 3.6)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    edges = np.histogram_bin_edges(s, bins=bins)
    for cls, name, color in zip((0, 1), names, colors):
        part = s[y == cls]
        if part.size == 0:
            continue
        smooth = kde and part.size >= 2 and float(part.std()) > 0
        sns.histplot(x=part, bins=edges, stat="density", color=color, alpha=0.4, kde=smooth, ax=ax,
                     label=f"{name} (n={part.size})", edgecolor="white", linewidth=0.5,
                     line_kws={"linewidth": 1.8})
    if threshold is not None:
        ax.axvline(threshold, color="0.2", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    auc = _auroc(s, y)
    head = title or "image anomaly scores"
    ax.set_title(f"{head} · AUROC {auc:.3f}" if auc is not None else head, fontsize=9.5)
    ax.set_xlabel("image anomaly score", fontsize=8.5)
    ax.set_ylabel("density", fontsize=8.5)
    ax.tick_params(labelsize=7.5)
    ax.grid(alpha=0.25)
    if legend:
        ax.legend(fontsize=7.5, loc="upper right")
    return fig


def score_distributions_grid(data: Mapping[str, tuple], ncols: int = 5, bins: int = 30, kde: bool = True,
                             cell: tuple[float, float] = (3.2, 2.5), title: str | None = None):
    """One :func:`score_distributions` panel per category (``data[category] = (scores, labels)``)."""
    if not data:
        raise ValueError("score_distributions_grid needs at least one category")
    n = len(data)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = new_figure(cell[0] * ncols, cell[1] * nrows + 0.5)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (category, (scores, labels)) in zip(axes, data.items()):
        score_distributions(scores, labels, ax=ax, bins=bins, kde=kde, title=category, legend=False)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes[n:]:
        ax.set_axis_off()
    handles, labels_ = [], []
    for ax in axes[:n]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            key = lab.split(" (")[0]
            if key not in labels_:
                handles.append(h)
                labels_.append(key)
    if handles:
        fig.legend(handles, labels_, loc="outside upper right", fontsize=8, ncols=len(handles))
    fig.supxlabel("image anomaly score", fontsize=9)
    fig.supylabel("density", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
