"""Per-category × method result tables as annotated heatmaps (no pandas needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._common import new_figure

__all__ = ["results_heatmap", "table_arrays"]


def _value(v) -> tuple[float, float]:
    """``0.93`` → (0.93, nan); ``(mean, std)`` → both; ``None`` → (nan, nan)."""
    if v is None:
        return float("nan"), float("nan")
    if isinstance(v, (tuple, list)):
        return float(v[0]), float(v[1]) if len(v) > 1 and v[1] is not None else float("nan")
    if isinstance(v, Mapping):
        return float(v["mean"]), float(v.get("std", float("nan")))
    return float(v), float("nan")


def table_arrays(table: Mapping[str, Mapping[str, object]], methods: Sequence[str] | None = None,
                 categories: Sequence[str] | None = None):
    """``table[category][method]`` → ``(categories, methods, means, stds)`` with NaN for missing cells."""
    cats = list(categories) if categories is not None else list(table)
    if methods is None:
        methods = []
        for cat in cats:
            for m in table.get(cat, {}):
                if m not in methods:
                    methods.append(m)
    methods = list(methods)
    means = np.full((len(cats), len(methods)), np.nan)
    stds = np.full_like(means, np.nan)
    for i, cat in enumerate(cats):
        for j, m in enumerate(methods):
            means[i, j], stds[i, j] = _value(table.get(cat, {}).get(m))
    return cats, methods, means, stds


def results_heatmap(table: Mapping[str, Mapping[str, object]], metric_name: str, fmt: str = ".1f",
                    ax=None, cmap: str = "RdYlGn", vmin: float | None = None, vmax: float | None = None,
                    mean_row: bool = True, higher_is_better: bool = True, methods: Sequence[str] | None = None,
                    categories: Sequence[str] | None = None, title: str | None = None):
    """Annotated heatmap of ``table[category][method]`` (a number, ``(mean, std)`` or ``None``).

    Cells read ``value`` or ``mean±std`` formatted with ``fmt``; missing cells stay blank; the best
    method of each row is in bold; a ``mean`` row (over the categories each method has) closes it.
    """
    import seaborn as sns

    cats, meths, means, stds = table_arrays(table, methods, categories)
    if not cats or not meths:
        raise ValueError("results_heatmap needs at least one category and one method")
    if mean_row and len(cats) > 1:
        with np.errstate(all="ignore"):
            col_mean = np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in means.T])
        means = np.vstack([means, col_mean])
        stds = np.vstack([stds, np.full(len(meths), np.nan)])
        cats = cats + ["mean"]
    annot = np.empty(means.shape, dtype=object)
    for idx in np.ndindex(means.shape):
        m, s = means[idx], stds[idx]
        annot[idx] = "" if not np.isfinite(m) else (f"{m:{fmt}}±{s:{fmt}}" if np.isfinite(s) else f"{m:{fmt}}")
    if ax is None:
        fig = new_figure(1.3 + 1.15 * len(meths) + 1.0, 1.0 + 0.36 * len(cats))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    finite = means[np.isfinite(means)]
    sns.heatmap(np.ma.masked_invalid(means), ax=ax, annot=annot, fmt="", cmap=cmap, mask=~np.isfinite(means),
                vmin=vmin if vmin is not None else (finite.min() if finite.size else None),
                vmax=vmax if vmax is not None else (finite.max() if finite.size else None),
                xticklabels=meths, yticklabels=cats, linewidths=0.5, linecolor="white",
                annot_kws={"fontsize": 8}, cbar_kws={"label": metric_name, "shrink": 0.8})
    best = {}
    for i in range(means.shape[0]):
        row = np.where(np.isfinite(means[i]), means[i], -np.inf if higher_is_better else np.inf)
        if np.isfinite(means[i]).any():
            best[i] = int(np.argmax(row) if higher_is_better else np.argmin(row))
    for text in ax.texts:  # seaborn puts annotation j+0.5, i+0.5
        x, y = text.get_position()
        i, j = int(y), int(x)
        if best.get(i) == j and text.get_text():
            text.set_fontweight("bold")
    if mean_row and len(cats) > 2:
        ax.axhline(len(cats) - 1, color="0.2", linewidth=1.5)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_facecolor("0.93")  # missing cells
    long_names = max(len(str(m)) for m in meths) > 8
    ax.tick_params(axis="x", labelsize=8, rotation=30 if long_names else 0)
    ax.tick_params(axis="y", labelsize=8, rotation=0)
    if long_names:
        for lab in ax.get_xticklabels():
            lab.set_ha("right")
            lab.set_rotation_mode("anchor")
    best_word = "highest" if higher_is_better else "lowest"
    ax.set_title(title or f"{metric_name} per category (bold: {best_word} per row)", fontsize=9.5)
    return fig
