"""The report's figures, written as PNG files beside it (and embedded in its HTML).

* ``report_<profile>_<paper>_<table>.png``: per paper table, one panel per metric: the paper's value
  and ours (mean, error bar = std over seeds) setting by setting. When the paper's numbers are on
  other data the panel says so: read the ordering, not the heights.
* ``report_<profile>_orderings.png``: every ordering claim "A > B" of the summary: our A − B with its
  noise as error bar (:mod:`adlib.reproduce.verdicts`), the paper's A − B as a marker, coloured by verdict.

Rendered with matplotlib's Agg canvas (no pyplot state, no display needed); colours from the
perceptually uniform ``viridis`` / ``cividis`` maps. Tables with no result of ours, or whose
trainings were all shown under an earlier table, get no figure.
"""

from __future__ import annotations

import re
from pathlib import Path

from adlib.fileio import atomic_write

PAPER_COLOR, OURS_COLOR = 0.25, 0.75  # positions on viridis
VERDICT_COLOR = {"holds": 0.9, "within noise": 0.55, "reversed": 0.1}  # positions on cividis


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> str:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", facecolor="white", bbox_inches="tight"))
    return str(path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


def table_figure(sec: dict):
    """Paper vs ours per metric for one report table (a matplotlib Figure), or None without results of ours."""
    from matplotlib import colormaps

    from .report import report_metrics, settings_view

    views = [v for v in (settings_view(sec, m) for m in report_metrics(sec)) if v["ours"]]
    if not views:
        return None
    cmap = colormaps["viridis"]
    fig = _figure(max(4.5, 4.2 * len(views)), 4.2)
    for i, view in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1)
        names = list(dict.fromkeys([*view["paper"], *view["ours"]]))
        xs = range(len(names))
        paper = [view["paper"].get(n) for n in names]
        ours = [view["ours"].get(n, (None, None, 0)) for n in names]
        ax.bar([x - 0.2 for x, p in zip(xs, paper) if p is not None], [p for p in paper if p is not None], 0.4,
               color=cmap(PAPER_COLOR), label=view["paper_label"])
        got = [(x, o) for x, o in zip(xs, ours) if o[2]]
        ax.bar([x + 0.2 for x, _ in got], [o[0] for _, o in got], 0.4, yerr=[o[1] or 0.0 for _, o in got], capsize=3,
               color=cmap(OURS_COLOR), label=f"ours: {view['ours_label']} (± std over seeds)")
        for x, o in got:
            ax.annotate(f"n={o[2]}", (x + 0.2, o[0]), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        values = [p for p in paper if p is not None] + [o[0] for _, o in got]
        lo = min(values)
        ax.set_ylim(max(0.0, lo - max(5.0, 0.1 * (100 - lo))), 100.5)
        ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{view['metric']} (%)")
        kind = "same data" if view["same_data"] else "other data: read the ordering"
        ax.set_title(f"{view['metric']} — {view['category']}\n({kind})", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.suptitle(f"{sec['paper']} {sec['title']}: paper vs ours (profile {sec['profile']})", fontsize=10)
    fig.subplots_adjust(wspace=0.35, top=0.8)  # room for each panel's y label and two-line title under the suptitle
    _legends_below_tick_labels(fig)
    return fig


def _legends_below_tick_labels(fig, gap: float = 0.03) -> None:
    """Move each panel's legend just below its lowest x tick label (long rotated labels reach below a fixed offset)."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend, labels = ax.get_legend(), [t for t in ax.get_xticklabels() if t.get_text()]
        if legend is None or not labels:
            continue
        bottom = min(t.get_window_extent(renderer).y0 for t in labels)
        y = ax.transAxes.inverted().transform((0.0, bottom))[1]
        legend.set_bbox_to_anchor((0.5, y - gap), transform=ax.transAxes)


def orderings_figure(rows: list[dict], profile: str):
    """Our A − B (± noise) against the paper's A − B for each ordering claim with a result, or None."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    rows = [r for r in rows if r["kind"] == "ordering" and r["delta"] is not None]
    if not rows:
        return None
    cmap = colormaps["cividis"]
    fig = _figure(7.5, 0.9 + 0.38 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    for y, r in enumerate(rows):
        color = cmap(VERDICT_COLOR.get(r["verdict"], 0.55))
        ax.errorbar(r["delta"], y, xerr=r["noise"], fmt="o", color=color, capsize=3)
        ax.plot(r["paper_diff"], y, marker="D", color="0.35", markerfacecolor="none", linestyle="none")
    ax.axvline(0.0, color="0.5", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [f"{r['paper']} {r['table']} {r['metric']}: {r['a']} > {r['b']}" for r in rows],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("A − B (percentage points)")
    handles = [Line2D([], [], marker="o", color=cmap(c), linestyle="none", label=f"ours ± noise: {v}")
               for v, c in VERDICT_COLOR.items()]
    handles.append(Line2D([], [], marker="D", color="0.35", markerfacecolor="none", linestyle="none",
                          label="paper's A − B"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_title(f"Orderings of the papers' settings, ours vs paper (profile {profile})", fontsize=10)
    return fig


def write_figures(report: dict, out_dir) -> dict:
    """Write the report's PNG figures into ``out_dir``; returns ``{name: path}`` in the report's order."""
    out, prefix, files = Path(out_dir), f"report_{report['profile']}", {}
    for sec in report["tables"]:
        rows = [r for r in sec["rows"] if r["n"]]
        if sec.get("skipped") or not rows or all(r.get("same_as") for r in rows):
            continue
        fig = table_figure(sec)
        if fig is not None:
            name = f"{sec['paper']} {sec['title']}"
            files[name] = _save(fig, out / f"{prefix}_{_slug(sec['paper'])}_{_slug(sec['table'])}.png")
    fig = orderings_figure(report.get("summary") or [], report["profile"])
    if fig is not None:
        files["orderings"] = _save(fig, out / f"{prefix}_orderings.png")
    return files
