"""A reproduction report, table by table, as an :mod:`adlib.widgets` view: the paper's value beside
ours for each setting (``notebooks/90_reproduce_tables.ipynb``)."""

from __future__ import annotations

from adlib.viz import new_figure, paper_vs_ours
from adlib.widgets._base import View, mark_static, static_note, static_reason

from .report import report_metrics, section_html, settings_view

__all__ = ["ReportExplorer", "report_explorer"]


def _tables(report: dict) -> list[dict]:
    """The report's tables that have a number on either side (skipped profiles and empty tables out)."""
    out = []
    for sec in report["tables"]:
        if sec.get("skipped"):
            continue
        if any(r["n"] for r in sec["rows"]) or sec.get("reference"):
            out.append(sec)
    return out


def _default_metric(sec: dict) -> str:
    metrics = report_metrics(sec)
    return "image_auroc" if "image_auroc" in metrics else metrics[0]


def _categories(sec: dict, metric: str) -> list[str]:
    cats = list(dict.fromkeys(r["category"] for r in sec["rows"] if r["metric"] == metric))
    return (["average"] if "average" in cats else []) + [c for c in cats if c != "average"]


class ReportExplorer(View):
    """Controls: ``table`` (index into the report's tables that have numbers), ``metric`` and
    ``category`` (ours; ``average`` when the table spans several). ``state`` is the
    :func:`~adlib.reproduce.report.settings_view` shown; ``info`` the table's rows for that metric."""

    def __init__(self, report: dict):
        super().__init__()
        w = self._widgets
        self.report = report
        self.sections = _tables(report)
        if not self.sections:
            raise ValueError("the report has no table with a number yet: run `adlib reproduce` first")
        labels = [(f"{s['paper']} — {s['title']}", i) for i, s in enumerate(self.sections)]
        self.table = w.Dropdown(options=labels, value=0, description="table")
        self.metric = w.Dropdown(description="metric")
        self.category = w.Dropdown(description="category")
        self._refresh_choices(table=True)
        self.table.observe(self._choice_changed, names="value")
        self.metric.observe(self._choice_changed, names="value")
        self._start([[self.table, self.metric, self.category]], [self.category])

    def _refresh_choices(self, table: bool) -> None:
        """New table: its metrics (image AUROC first if it has it); new metric: its categories."""
        sec = self.sections[self.table.value]
        with self.hold():
            if table:
                self.metric.options = report_metrics(sec)
                self.metric.value = _default_metric(sec)
            cats = _categories(sec, self.metric.value) or ["average"]
            default = settings_view(sec, self.metric.value)["category"]
            self.category.options = cats
            self.category.value = default if default in cats else cats[0]

    def _choice_changed(self, change) -> None:
        if self._holding:
            return
        self._refresh_choices(table=change["owner"] is self.table)
        self.update()

    @property
    def section(self) -> dict:
        return self.sections[self.table.value]

    def compute(self) -> dict:
        return settings_view(self.section, self.metric.value, self.category.value)

    def render(self):
        s = self.state
        if not s["ours"] and not s["paper"]:
            fig = new_figure(5, 2)
            fig.text(0.5, 0.5, f"no numbers for {s['metric']} / {self.category.value}", ha="center", va="center")
            return fig
        return paper_vs_ours(**s)

    def describe(self) -> str:
        rows = [r for r in self.section["rows"] if r["metric"] in (self.metric.value, "")]
        return section_html(self.section, rows, standalone=True)


def report_explorer(report: dict, static: bool | None = None):
    """A :class:`ReportExplorer`, or when static one figure with a row per table (its image AUROC, or
    its first metric) — the paper's value beside ours."""
    reason = static_reason(static)
    if reason is None:
        return ReportExplorer(report)
    sections = _tables(report)
    if not sections:
        raise ValueError("the report has no table with a number yet: run `adlib reproduce` first")
    note = static_note(reason, "every table's first metric instead of the selectors")
    fig = new_figure(10, 3.6 * len(sections))
    grid = fig.subplots(len(sections), 2, squeeze=False)
    for sec, axes in zip(sections, grid):
        view = settings_view(sec, _default_metric(sec))
        if not view["ours"] and not view["paper"]:
            for ax in axes:
                ax.set_axis_off()
            axes[0].set_title(f"{sec['paper']} — {sec['title']}: no numbers", fontsize=8.5, loc="left")
            continue
        if view["same_data"]:
            axes[1].set_axis_off()
            paper_vs_ours(**view, axes=axes[0])
        else:
            paper_vs_ours(**view, axes=axes)
    fig.suptitle(note, fontsize=9.5)
    return mark_static(fig, note)
