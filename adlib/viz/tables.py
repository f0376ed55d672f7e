"""Per-category × method result tables as annotated heatmaps (no pandas needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._common import new_figure

__all__ = ["paper_vs_ours", "results_heatmap", "table_arrays"]


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
                    categories: Sequence[str] | None = None, title: str | None = None, mark_best: bool = True):
    """Annotated heatmap of ``table[category][method]`` (a number, ``(mean, std)`` or ``None``).

    Cells read ``value`` or ``mean±std`` formatted with ``fmt``; missing cells stay blank; the best
    method of each row is in bold (``mark_best=False`` when the columns are not rivals, e.g. different
    metrics); a ``mean`` row (over the categories each method has) closes it.
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
        if mark_best and np.isfinite(means[i]).any():
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


PAPER_COLOR, OURS_COLOR = "0.45", "tab:blue"


def _setting_panel(ax, names, values, errs, color, marker, label, title, deltas=None):
    x = np.arange(len(names))
    ok = np.isfinite(values)
    ax.errorbar(x[ok], values[ok], yerr=None if errs is None else np.nan_to_num(errs[ok]), fmt=marker, color=color,
                ms=7, capsize=4, label=label, zorder=3)
    for i in np.flatnonzero(ok):
        text = f"{values[i]:.1f}" + ("" if deltas is None or not np.isfinite(deltas[i]) else f" ({deltas[i]:+.1f})")
        ax.annotate(text, (x[i], values[i]), textcoords="offset points", xytext=(7, 0), va="center", fontsize=7.5,
                    color=color)
    if ok.sum() > 1:  # a gold star behind the best setting's marker
        best = int(np.nanargmax(np.where(ok, values, -np.inf)))
        ax.plot([x[best]], [values[best]], marker="*", ms=20, color="gold", mec="0.3", mew=0.5, zorder=2)
    elif not ok.any():
        ax.text(0.5, 0.5, "no numbers", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_yticks([])
    slanted = max(map(len, names), default=0) > 10
    ax.set_xticks(x, names, fontsize=8, rotation=25 if slanted else 0, ha="right" if slanted else "center")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=9)


def paper_vs_ours(ours: Mapping[str, tuple], paper: Mapping[str, float], metric: str, same_data: bool = False,
                  ours_label: str = "ours", paper_label: str = "paper", table: str | None = None,
                  paper_id: str | None = None, category: str | None = None, axes=None):
    """A paper table's settings: the paper's value beside ours (mean ± std over seeds), in percent.

    ``ours[setting] = (mean, std, n)``; ``paper[setting] = value`` (what
    :func:`adlib.reproduce.report.settings_view` returns, with ``table``, ``paper_id`` and ``category``
    for the title). With ``same_data`` one panel holds both,
    each of ours labelled with its delta; otherwise the two are different experiments (the paper's
    dataset vs ours) and get a panel each with its own y range: read the ordering, not the values.
    A gold star marks the best setting of each side. ``axes``: one axes (same data) or two.
    """
    names = list(dict.fromkeys([*ours, *paper]))
    if not names:
        raise ValueError("paper_vs_ours needs at least one setting with a number")
    column = lambda values: np.array([np.nan if v is None else v for v in values], float)  # noqa: E731
    mean = column(ours.get(n, (None,))[0] for n in names)
    std = column(ours.get(n, (None, None))[1] for n in names)
    pv = column(paper.get(n) for n in names)
    counts = sorted({ours[n][2] for n in ours})  # runs (seeds) behind each of our means
    n_text = "n=" + "/".join(map(str, counts)) if counts else "no runs"
    head = " — ".join(x for x in (paper_id, table, metric, category) if x)
    two = not same_data
    own = axes is None
    if own:
        fig = new_figure(max(4.0, 1.2 + 0.95 * len(names)) * (2 if two else 1), 3.4)
        axes = fig.subplots(1, 2) if two else fig.subplots(1, 1)
    axes = list(axes) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
    fig = axes[0].figure
    if two:
        _setting_panel(axes[0], names, pv, None, PAPER_COLOR, "s", "paper", paper_label)
        _setting_panel(axes[1], names, mean, std, OURS_COLOR, "o", "ours", f"ours: {ours_label} ({n_text})")
        note = "different data: compare the ordering of the settings, not the values"
    else:
        ax = axes[0]
        _setting_panel(ax, names, pv, None, PAPER_COLOR, "s", "paper", "")
        _setting_panel(ax, names, mean, std, OURS_COLOR, "o", f"ours ({n_text})", f"{paper_label} vs ours",
                       deltas=mean - pv)
        ax.legend(fontsize=8, loc="best")
        note = f"same data ({ours_label}): ours with its delta to the paper"
    axes[0].set_ylabel(f"{metric} (%)")
    if own:
        fig.suptitle(f"{head}\n{note}" if head else note, fontsize=9.5)
    else:  # a panel of a larger figure: the table's name and the note go above its first axes
        axes[0].set_title(f"{head}\n{note}\n{axes[0].get_title()}", fontsize=8.5)
    return fig


def points(value: float | None, width: int = 6, digits: int = 1, scale: float = 100.0) -> str:
    """A metric fraction as percentage points for a printed table (``0.912`` → ``" 91.2"``), or ``"n/a"``
    right-aligned when it is unavailable (``None``: e.g. pixel metrics of a folder without masks)."""
    return f"{'n/a':>{width}}" if value is None else f"{scale * value:{width}.{digits}f}"
