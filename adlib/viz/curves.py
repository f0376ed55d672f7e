"""ROC and PRO curves for several methods on one axes.

The areas in the legends are recomputed from the plotted points with the trapezoid rule (the
same integration the exact metrics use), so a curve down-sampled for storage gives a value within
rounding of the reported metric. Pass a third tuple element to show the reported value instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._common import as_numpy, new_figure

__all__ = ["area_up_to", "pro_curve_figure", "roc_curve_figure"]


def _xy(curve) -> tuple[np.ndarray, np.ndarray, float | None]:
    if len(curve) not in (2, 3):
        raise ValueError("a curve is (x, y) or (x, y, reported_area)")
    x = as_numpy(curve[0]).astype(np.float64).ravel()
    y = as_numpy(curve[1]).astype(np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"curve x {x.shape} and y {y.shape} differ in length")
    order = np.argsort(x, kind="stable")
    reported = float(curve[2]) if len(curve) == 3 and curve[2] is not None else None
    return x[order], y[order], reported


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0)) if x.size > 1 else 0.0


def area_up_to(x, y, limit: float = 1.0, normalize: bool = True) -> float:
    """Area under ``y(x)`` on ``[0, limit]`` (``y`` interpolated at ``limit``); divided by ``limit``
    when ``normalize`` (AUPRO@0.3 convention: a perfect detector scores 1)."""
    x, y, _ = _xy((x, y))
    keep = x <= limit
    xs, ys = x[keep], y[keep]
    if xs.size == 0 or xs[-1] < limit:
        y_lim = float(np.interp(limit, x, y)) if x.size else 0.0
        xs, ys = np.append(xs, limit), np.append(ys, y_lim)
    area = _trapezoid(ys, xs)
    return area / limit if normalize else area


def roc_curve_figure(curves: Mapping[str, tuple], ax=None, title: str = "ROC", chance: bool = True):
    """One ROC curve per method (``curves[name] = (fpr, tpr[, auroc])``), AUROC in the legend."""
    if ax is None:
        fig = new_figure(4.6, 4.4)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for name, curve in curves.items():
        x, y, reported = _xy(curve)
        auc = reported if reported is not None else _trapezoid(y, x)
        ax.plot(x, y, linewidth=1.6, label=f"{name} (AUROC {auc:.3f})")
    if chance:
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance (0.500)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pro_curve_figure(curves: Mapping[str, tuple], fpr_limit: float = 0.3, ax=None, title: str = "PRO curve",
                     xmax: float | None = None):
    """PRO vs pixel FPR per method (``curves[name] = (fpr, pro[, aupro])``).

    The area integrated for AUPRO (FPR in ``[0, fpr_limit]``) is shaded, a dashed line marks the
    limit, and the legend gives the area divided by ``fpr_limit``. ``xmax`` (default: 1, or
    ``2 × fpr_limit`` when that is below 0.5) zooms the x axis.
    """
    if ax is None:
        fig = new_figure(5.4, 4.2)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for name, curve in curves.items():
        x, y, reported = _xy(curve)
        area = reported if reported is not None else area_up_to(x, y, fpr_limit)
        (line,) = ax.plot(x, y, linewidth=1.6, label=f"{name} (AUPRO@{fpr_limit:g} {area:.3f})")
        keep = x <= fpr_limit
        xs = np.append(x[keep], fpr_limit)
        ys = np.append(y[keep], np.interp(fpr_limit, x, y))
        ax.fill_between(xs, ys, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.axvline(fpr_limit, color="0.3", linestyle="--", linewidth=1)
    ax.text(fpr_limit, 0.03, f" FPR limit {fpr_limit:g}", fontsize=7.5, va="bottom", ha="left",
            rotation=90, color="0.3", transform=ax.get_xaxis_transform())
    if xmax is None:
        xmax = 2 * fpr_limit if 2 * fpr_limit < 0.5 else 1.0
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("pixel false positive rate")
    ax.set_ylabel("per-region overlap (PRO)")
    ax.set_title(f"{title}\nshaded: area integrated for AUPRO (÷ {fpr_limit:g})", fontsize=9.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
