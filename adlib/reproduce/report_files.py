"""The report's files: ``report_<profile>.md`` / ``.html`` / ``.csv`` from a :func:`~adlib.reproduce.report.build_report` dict.

Each opens with the summary (:mod:`adlib.reproduce.summary`: the profile's meaning, then per paper
table the paper's claim, ours and a verdict) and the figures (:mod:`adlib.reproduce.figures`), then
the tables row by row. Rows of a training already shown in an earlier table are not repeated
(``same training as ...``); the CSV adds the paper's values that have no row of ours
(status ``paper only``).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
from pathlib import Path

from adlib.fileio import atomic_write

from .report import COLUMNS, CSV_COLUMNS, report_metrics, settings_view


def _num(v, signed=False) -> str:
    return "–" if v is None else (f"{v:+.2f}" if signed else f"{v:.2f}")


def _ours(r: dict) -> str:
    if r.get("same_as"):
        return f"same training as {r['same_as']}"
    if r["n"] == 0:
        return r["status"]
    return f"{r['ours_mean']:.2f} ± {_num(r['ours_std'])} (n={r['n']})"


def _paper(v) -> str:
    return "–" if v is None else f"{v:g}"


def _cells(r: dict) -> list[str]:
    return [r["setting"], r["dataset"], r["category"], r["metric"] or "–", _paper(r["paper"]), _ours(r),
            _num(r["delta"], True), r["notes"]]


def shown_rows(sec: dict, rows: list[dict] | None = None) -> list[dict]:
    """The rows to display: a training already shown under an earlier table or setting keeps only
    its rows with a paper value (ours: "same training as ..."), or one row saying so."""
    out, said = [], set()
    for r in sec["rows"] if rows is None else rows:
        if not r.get("same_as") or r["paper"] is not None:
            out.append(r)
        elif (r["setting"], r["category"]) not in said:
            out.append(dict(r, metric=None, delta=None))
        said.add((r["setting"], r["category"]))
    return out


def _header(sec: dict) -> list[str]:
    w = "; ".join(f"`{x['name']}` from `{x['source']}` (sha256 `{(x['sha256'] or 'none')[:12]}`)" for x in sec["weights"])
    d = "; ".join(f"`{x['name']}` (" + ", ".join(f"{k} {v}" for k, v in x["counts"].items())
                  + (f", split_seed {x['split_seed']}" if x["split_seed"] is not None else "") + ")" for x in sec["data"])
    ours = " · ".join(f"{k} {v}" for k, v in sec["protocol_ours"].items()) or "–"
    paper = " · ".join(f"{k} {v}" for k, v in sec["protocol_paper"].items()) or "–"
    return [f"Weights: {w or '–'} · Data: {d or '–'}", f"Protocol (ours): {ours}", f"Protocol (paper): {paper}"]


def _rel(path, base) -> str:
    return Path(os.path.relpath(path, base)).as_posix() if base is not None else Path(path).as_posix()


ORDERING_COLUMNS = ("metric", "setting", "paper", "paper's data", "ours", "our data")
ORDERING_NOTE = ("The paper's numbers come from other data than ours, so the rows above have no delta. "
                 "Setting by setting (read the ordering, not the values):")


def ordering_rows(sec: dict) -> list[list[str]]:
    """Where the paper's numbers are on other data than ours (no delta in the rows): per metric and
    setting, the paper's value on its data beside ours (:func:`settings_view`), as table cells."""
    out = []
    for metric in report_metrics(sec):
        view = settings_view(sec, metric)
        if view["same_data"] or not view["paper"] or not view["ours"]:
            continue
        for name in dict.fromkeys([*view["ours"], *view["paper"]]):
            mean, std, n = view["ours"].get(name, (None, None, 0))
            ours = f"{mean:.2f} ± {_num(std)} (n={n})" if n else "–"
            out.append([metric, name, _paper(view["paper"].get(name)), view["paper_label"].removeprefix("paper: "),
                        ours, view["ours_label"]])
    return out


def _md_table(columns, rows) -> list[str]:
    line = lambda cells: "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"  # noqa: E731
    return [line(columns), "|" + "---|" * len(columns)] + [line(r) for r in rows]


def _html_table(columns, rows, classes=None) -> str:
    """``classes``: per row, one ``class`` attribute (or "") per cell."""
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"]
    for i, row in enumerate(rows):
        cls = classes[i] if classes else [""] * len(row)
        out.append("<tr>" + "".join(f"<td{k}>{e(c)}</td>" for k, c in zip(cls, row)) + "</tr>")
    return "\n".join(out + ["</table>"])


def _summary(report: dict) -> list[dict]:
    from .summary import summary_rows

    return report.get("summary") or summary_rows(report)


def to_markdown(report: dict, base=None) -> str:
    from .summary import summary_markdown

    lines = [f"# Reproduction report (profile `{report['profile']}`)", "",
             f"Results from `{report['runs_dir']}`, generated {report['created']}. Ours and paper in %, "
             "delta = ours − paper (percentage points); std over seeds (n − 1).", "",
             summary_markdown(report, _summary(report))]
    if report.get("figures"):
        lines += ["### Figures", ""] + [f"![{name}]({_rel(f, base)})" for name, f in report["figures"].items()] + [""]
    for sec in report["tables"]:
        lines += [f"## {sec['paper']} — {sec['title']}" + (f" (`{sec['config']}`)" if sec["config"] else ""), ""]
        if sec.get("skipped"):
            lines += [f"_{sec['skipped']}_", ""]
            continue
        lines += [ln + "  " for ln in _header(sec)] + [""] + _md_table(COLUMNS, [_cells(r) for r in shown_rows(sec)])
        if ordering := ordering_rows(sec):
            lines += ["", ORDERING_NOTE, ""] + _md_table(ORDERING_COLUMNS, ordering)
        if sec["figures"]:
            lines += ["", "Figures: " + " · ".join(f"[{_rel(f, Path(report['runs_dir']))}]({_rel(f, base)})"
                                                   for f in sec["figures"])]
        lines.append("")
    return "\n".join(lines)


CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#eee}"
       "td.pos{background:#d7f5d7}td.neg{background:#f8d4d4}td.mid{background:#fff3c4}p.meta{margin:.2em 0;font-size:90%}"
       "figure{margin:1em 0}img{max-width:100%}")


NOTEBOOK_CSS = ("<style>.adlib-report table{border-collapse:collapse;margin:.5em 0}.adlib-report th,.adlib-report td"
                "{border:1px solid #ccc;padding:2px 6px;text-align:left}.adlib-report th{background:#eee}"
                ".adlib-report td.pos{background:#d7f5d7}.adlib-report td.neg{background:#f8d4d4}"
                ".adlib-report p.meta{margin:.2em 0;font-size:90%}</style>")


def section_html(sec: dict, rows: list[dict] | None = None, standalone: bool = False) -> str:
    """One report table as HTML: weights, data and both protocols, then its rows (all, or ``rows``);
    deltas coloured (green: ours ≥ paper). ``standalone``: wrapped with its own scoped style, for a
    notebook output or a widget."""
    e = html.escape
    if standalone:
        return f"<div class=\"adlib-report\">{NOTEBOOK_CSS}{section_html(sec, rows)}</div>"
    if sec.get("skipped"):
        return f"<p><em>{e(sec['skipped'])}</em></p>"
    shown = shown_rows(sec, rows)
    classes = [["" if i != 6 or r["delta"] is None else " class=\"pos\"" if r["delta"] >= 0 else " class=\"neg\""
                for i in range(len(COLUMNS))] for r in shown]
    out = [f"<p class=\"meta\">{e(ln.replace('`', ''))}</p>" for ln in _header(sec)]
    out.append(_html_table(COLUMNS, [_cells(r) for r in shown], classes))
    if rows is None and (ordering := ordering_rows(sec)):
        out += [f"<p class=\"meta\">{e(ORDERING_NOTE)}</p>", _html_table(ORDERING_COLUMNS, ordering)]
    return "\n".join(out)


def to_html(report: dict, base=None) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
           f"<title>Reproduction report ({e(report['profile'])})</title><style>{CSS}</style></head><body>",
           f"<h1>Reproduction report (profile {e(report['profile'])})</h1>",
           f"<p class=\"meta\">Results from {e(report['runs_dir'])}, generated {e(report['created'])}. Ours and paper "
           "in %, delta = ours − paper (percentage points); std over seeds (n − 1).</p>"]
    from .summary import summary_html

    out.append(summary_html(report, _summary(report)))
    for name, f in (report.get("figures") or {}).items():
        data = base64.b64encode(Path(f).read_bytes()).decode("ascii")
        out.append(f"<figure><img alt=\"{e(name)}\" src=\"data:image/png;base64,{data}\">"
                   f"<figcaption>{e(name)}: <a href=\"{e(_rel(f, base))}\">{e(Path(f).name)}</a></figcaption></figure>")
    for sec in report["tables"]:
        out.append(f"<h2>{e(sec['paper'])} — {e(sec['title'])}</h2>")
        out.append(section_html(sec))
        if sec["figures"]:
            out.append("<p>Figures: " + " · ".join(f"<a href=\"{e(_rel(f, base))}\">{e(_rel(f, Path(report['runs_dir'])))}</a>"
                                                   for f in sec["figures"]) + "</p>")
    return "\n".join(out + ["</body></html>", ""])


def paper_only_rows(sec: dict) -> list[dict]:
    """The paper's values of a table that no row of ours matches (status ``paper only``), as CSV rows."""
    have = {(r["setting"], r["dataset"], r["category"], r["metric"]) for r in sec["rows"]}
    return [{"paper_id": sec["paper"], "table": sec["table"], "setting": x["setting"], "dataset": x["dataset"],
             "category": x["category"], "metric": x["metric"], "paper": x["value"], "status": "paper only"}
            for x in sec.get("reference", []) if (x["setting"], x["dataset"], x["category"], x["metric"]) not in have]


def write_csv(report: dict, path) -> Path:
    """Every row of ours (``same_as``: the table and setting whose training it repeats), then the
    paper's values without a row of ours."""
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
            w.writeheader()
            for sec in report["tables"]:
                for r in sec["rows"]:
                    w.writerow({**{k: "" if r.get(k) is None else round(r[k], 6) if isinstance(r[k], float) else r[k]
                                   for k in CSV_COLUMNS},
                                "seeds": " ".join(map(str, r["seeds"])),
                                "ours_values": " ".join(f"{v:.4f}" for v in r["ours_values"]),
                                "protocol_ours": json.dumps(r["protocol_ours"], sort_keys=True)})
                w.writerows(paper_only_rows(sec))

    return atomic_write(path, write)
