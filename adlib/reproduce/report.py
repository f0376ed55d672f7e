"""Paper / ours / delta, per paper table: ``adlib report CONFIG ... --runs DIR --profile small --out DIR``.

:func:`build_report` reads the finished cells of each config (:func:`~adlib.reproduce.grid.expand`,
:func:`~adlib.reproduce.grid.variant_view`), groups them by (setting, dataset, category) over seeds
(mean ± sample std, n), sets the paper's number beside them (:mod:`adlib.reference`, matched with
:func:`reference_setting`) and writes ``report_<profile>.md`` / ``.html`` / ``.csv``. Ours is shown in
percent (results store fractions); delta = ours − paper in percentage points. Cells without results
are listed as ``not run``, cells with an ``error.txt`` as ``failed: <error>``, cells whose results file is
corrupt as ``failed: corrupt results file <path>: <why>``; a metric a run could not compute (pixel
metrics without masks) as ``unavailable: <why>``.
"""

from __future__ import annotations

import csv
import html
import json
import os
import statistics
from datetime import datetime, timezone
from pathlib import Path

from .cellstate import unavailable_metrics
from .grid import error_line, expand, load_config, variant_view
from .schema import ConfigError, profile_names

DEFAULT_METRICS = ("image_auroc", "pixel_auroc", "aupro")
# the protocol entries of results files that the "Protocol (ours)" line summarises
REPORTED_PROTOCOL_KEYS = ("image_size", "mask_resolution", "aupro_mode", "fpr_limits", "ckpt_selection", "epochs",
                          "batch_size", "device")
COLUMNS = ("setting", "dataset", "category", "metric", "paper", "ours (mean ± std, n)", "delta", "notes")
CSV_COLUMNS = ("paper_id", "table", "setting", "dataset", "category", "metric", "paper", "ours_mean", "ours_std", "n",
               "delta", "status", "notes", "seeds", "ours_values", "train_s_mean", "protocol_ours")


def reference_setting(setting: dict, method: str) -> str:
    """The reference record's ``setting`` string for a grid setting: ``{}`` → the method name,
    ``{"method": "rd"}`` → ``"rd"``, ``{"batch_size": 16}`` → ``"batch_size=16"``; several keys are
    joined with ``", "`` (the method first, bare)."""
    if not setting:
        return method
    parts = [str(setting["method"])] if "method" in setting else []
    return ", ".join(parts + [f"{k}={v}" for k, v in sorted(setting.items()) if k != "method"])


def table_title(cfg: dict) -> str:
    t = str(cfg["table"])
    return cfg.get("title") or (f"Fig. {t}" if t.isdigit() else f"Table {t}")


def _flat(metrics: dict) -> dict:
    out = {}
    for k, v in metrics.items():
        v = v.get("value") if isinstance(v, dict) and "value" in v else v
        if isinstance(v, dict):
            out.update({f"{k}.{s}": x for s, x in v.items() if isinstance(x, (int, float))})
        elif isinstance(v, (int, float)):
            out[k] = v
    return out


def _val(v) -> str:
    if isinstance(v, list):
        return "x".join(map(str, v)) if len(v) == 2 and all(isinstance(x, int) for x in v) else ",".join(map(str, v))
    return str(v)


def protocol_summary(results: list[dict]) -> dict:
    """``{key: "v1/v2"}`` over results (missing top-level keys are taken from ``training``/``env``)."""
    out = {}
    for key in REPORTED_PROTOCOL_KEYS:
        vals = []
        for r in results:
            p = r.get("protocol", {})
            v = p.get(key)
            v = (p.get("training") or {}).get(key) if v is None else v
            v = r.get("env", {}).get(key) if v is None else v
            if v is not None and _val(v) not in vals:
                vals.append(_val(v))
        if vals:
            out[key] = "/".join(vals)
    return out


def _stats(values: list) -> tuple:
    n = len(values)
    return (statistics.fmean(values) if n else None, statistics.stdev(values) if n > 1 else None, n)


def _reference(paper: str) -> tuple[dict, float]:
    from adlib.reference import load_reference

    try:
        doc = load_reference(paper)
    except KeyError:
        return {"values": [], "protocol": {}}, 1.0
    return doc, (1.0 if doc.get("units", "percent") == "percent" else 100.0)


def _table(cfg: dict, runs_dir, profile: str, metrics, source: str | None) -> dict:
    paper, table = cfg["paper"], str(cfg["table"])
    ref, scale = _reference(paper)
    reference = [{**r, "value": r["value"] * scale} for r in ref["values"] if str(r["table"]) == table]
    refs = {(r["setting"], r["dataset"], r["category"], r["metric"]): r["value"] for r in reference}
    sec = {"paper": paper, "table": table, "title": table_title(cfg), "config": source, "profile": profile,
           "protocol_paper": ref.get("protocol", {}), "paper_title": ref.get("title"), "rows": [], "figures": [],
           "weights": [], "data": [], "protocol_ours": {},
           "reference": reference}
    if profile not in profile_names(cfg):
        sec["skipped"] = f"config has no {profile!r} profile"
        return sec
    from adlib.experiment import category_name

    groups: dict = {}
    for cell in expand(cfg, profile):
        ds, cat, seed = cell.run["dataset"], category_name(cell.run["category"]), cell.run["seed"]
        name = reference_setting(cell.setting, cell.method)
        g = groups.setdefault((name, ds, cat), {"seeds": [], "results": [], "missing": [], "failed": {}})
        g["seeds"].append(seed)
        path = cell.results_path(runs_dir)
        res, why = cell.read_results(runs_dir)
        if why is not None:
            g["failed"][seed] = f"corrupt results file {path}: {why}"
        elif res is not None:
            res = variant_view(res, cell.variant)
            if res is None:
                g["failed"][seed] = f"the run did not evaluate variant {cell.variant!r}"
                continue
            g["results"].append(res)
            sec["figures"] += [str(f) for f in sorted(path.parent.glob("*.png")) + sorted((path.parent / "figures").glob("*.png"))]
        elif (why := cell.failure(runs_dir)) is not None:
            g["failed"][seed] = why
        else:
            g["missing"].append(seed)
    allres = [r for g in groups.values() for r in g["results"]]
    seen = {m for r in allres for m in _flat(r["metrics"])} | {k[3] for k in refs} | set(unavailable_metrics(allres))
    names = [m for m in metrics if m in seen]
    sec["protocol_ours"] = protocol_summary(allres)
    for r in allres:
        w = {k: r["weights"].get(k) for k in ("name", "source", "sha256")}
        d = {"name": r["data"].get("name"), "split_seed": r["data"].get("split_seed"),
             "counts": {s: sum(c.values()) if isinstance(c, dict) else c for s, c in (r["data"].get("counts") or {}).items()}}
        sec["weights"] += [w] if w not in sec["weights"] else []
        sec["data"] += [d] if d not in sec["data"] else []

    def row(name, ds, cat, metric, values, status, notes, seeds, res=(), train=()):
        mean, std, n = _stats([100.0 * v for v in values])
        p = refs.get((name, ds, cat, metric))
        return {"paper_id": paper, "table": table, "setting": name, "dataset": ds, "category": cat, "metric": metric,
                "paper": p, "ours_mean": mean, "ours_std": std, "n": n,
                "delta": None if mean is None or p is None else mean - p, "status": status, "notes": notes,
                "seeds": list(seeds), "ours_values": [100.0 * v for v in values],
                "train_s_mean": statistics.fmean(train) if train else None, "protocol_ours": protocol_summary(list(res))}

    for (name, ds, cat), g in groups.items():
        notes = [n for _, n in sorted([(s, f"seed {s} not run") for s in g["missing"]]
                                      + [(s, f"seed {s} failed: {m}") for s, m in g["failed"].items()])]
        if not g["results"]:
            status = f"failed: {next(iter(g['failed'].values()))}" if g["failed"] else "not run"
            with_ref = [m for m in names if (name, ds, cat, m) in refs] or [""]
            sec["rows"] += [row(name, ds, cat, m, [], status, "; ".join(notes), g["seeds"]) for m in with_ref]
            continue
        train = [r["timings"]["train_s"] for r in g["results"] if isinstance(r["timings"].get("train_s"), (int, float))]
        for m in names:
            vals = [_flat(r["metrics"]).get(m) for r in g["results"]]
            seeds = [r["seed"] for r, v in zip(g["results"], vals) if v is not None]
            why = unavailable_metrics(g["results"]).get(m)
            status = f"unavailable: {why}" if why and not seeds else "partial" if notes else "ok"
            sec["rows"].append(row(name, ds, cat, m, [v for v in vals if v is not None], status,
                                   "; ".join(notes), seeds, g["results"], train))
    cats = list(dict.fromkeys(k[2] for k in groups))
    if len(cats) > 1:  # the paper's "average" rows: per seed, the mean over all categories
        for name, ds in dict.fromkeys((k[0], k[1]) for k in groups):
            for m in names:
                by_seed: dict = {}
                for r in sec["rows"]:
                    if (r["setting"], r["dataset"], r["metric"]) == (name, ds, m):
                        for s, v in zip(r["seeds"], r["ours_values"]):
                            by_seed.setdefault(s, {})[r["category"]] = v / 100.0
                full = {s: statistics.fmean(v.values()) for s, v in by_seed.items() if len(v) == len(cats)}
                done = len({c for v in by_seed.values() for c in v})
                note = f"mean over {len(cats)} categories" if full else f"incomplete: {done}/{len(cats)} categories"
                if full or (name, ds, "average", m) in refs:
                    sec["rows"].append(row(name, ds, "average", m, list(full.values()), "ok" if full else "not run",
                                           note, sorted(full)))
    return sec


def settings_view(sec: dict, metric: str, category: str | None = None) -> dict:
    """One metric of a report table, setting by setting: ours (mean, std, n) beside the paper's value.

    Ours are the section's rows for ``metric`` in ``category`` (default: ``average`` when it has
    numbers, else the first category that has). The paper's value is the record on the same
    dataset and category when the paper has one (``same_data``: a real delta); otherwise the paper's
    own ``average`` (or its only category) on its dataset, which is a different experiment: compare
    the ordering of the settings, not the values.
    """
    rows = [r for r in sec["rows"] if r["metric"] == metric]
    if category is None:  # the average if it has numbers, else the first category that has
        cats = list(dict.fromkeys(r["category"] for r in sorted(rows, key=lambda r: r["category"] != "average")
                                  if r["n"]))
        category = cats[0] if cats else "average"
    rows = [r for r in rows if r["category"] == category]
    ours = {r["setting"]: (r["ours_mean"], r["ours_std"], r["n"]) for r in rows if r["n"]}
    dataset = rows[0]["dataset"] if rows else None
    refs = [r for r in sec.get("reference", []) if r["metric"] == metric]
    same = {r["setting"]: r["value"] for r in refs if (r["dataset"], r["category"]) == (dataset, category)}
    if same:
        paper, where = same, (dataset, category)
    else:
        by_setting: dict = {}
        for r in refs:
            by_setting.setdefault(r["setting"], []).append(r)
        paper, places = {}, []
        for name, recs in by_setting.items():
            pick = [r for r in recs if r["category"] == "average"] or (recs if len(recs) == 1 else [])
            if pick:
                paper[name] = pick[0]["value"]
                places.append((pick[0]["dataset"], pick[0]["category"]))
        where = places[0] if len(set(places)) == 1 else None
    paper_label = ("paper: " + ", ".join(where) if where else
                   "paper: several datasets" if paper else "paper: no number for this metric")
    return {"metric": metric, "category": category, "table": sec["title"], "paper_id": sec["paper"], "ours": ours,
            "paper": paper, "same_data": bool(same), "paper_label": paper_label,
            "ours_label": f"{dataset}, {category}, profile {sec['profile']}" if dataset else f"profile {sec['profile']}"}


def report_metrics(sec: dict) -> list[str]:
    """The metrics a report table has rows or paper values for, in the report's order."""
    return list(dict.fromkeys([r["metric"] for r in sec["rows"] if r["metric"]]
                              + [r["metric"] for r in sec.get("reference", [])]))


def build_report(configs, runs_dir, profile: str = "small", out_dir=None, metrics=DEFAULT_METRICS,
                 seeds=None) -> dict:
    """Collect every config (a path or a dict: one paper table) into a report dict; with ``out_dir``
    also write ``report_<profile>.md/.html/.csv`` there (paths in ``report["files"]``). ``seeds``
    replaces the configs' own seeds (as ``adlib reproduce --seeds`` does)."""
    tables, offered = [], {}
    for c in configs:
        cfg, source = (c, None) if isinstance(c, dict) else (load_config(c), str(c))
        cfg = dict(cfg, seeds=list(seeds)) if seeds else cfg
        offered.update(dict.fromkeys(profile_names(cfg)))
        tables.append(_table(cfg, runs_dir, profile, tuple(metrics), source))
    if tables and profile not in offered:
        raise ConfigError(f"unknown profile {profile!r}: no table offers it (they offer: {', '.join(offered)})")
    report = {"profile": profile, "runs_dir": str(runs_dir), "tables": tables, "files": {},
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for kind, ext, writer in (("markdown", "md", to_markdown), ("html", "html", to_html), ("csv", "csv", write_csv)):
            path = out / f"report_{profile}.{ext}"
            writer(report, path) if kind == "csv" else path.write_text(writer(report, out), encoding="utf-8")
            report["files"][kind] = str(path)
    return report


# -- writers ---------------------------------------------------------------------------------------
def _num(v, signed=False) -> str:
    return "–" if v is None else (f"{v:+.2f}" if signed else f"{v:.2f}")


def _ours(r: dict) -> str:
    if r["n"] == 0:
        return r["status"]
    return f"{r['ours_mean']:.2f} ± {_num(r['ours_std'])} (n={r['n']})"


def _paper(v) -> str:
    return "–" if v is None else f"{v:g}"


def _cells(r: dict) -> list[str]:
    return [r["setting"], r["dataset"], r["category"], r["metric"] or "–", _paper(r["paper"]), _ours(r),
            _num(r["delta"], True), r["notes"]]


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


def to_markdown(report: dict, base=None) -> str:
    lines = [f"# Reproduction report (profile `{report['profile']}`)", "",
             f"Results from `{report['runs_dir']}`, generated {report['created']}. Ours and paper in %, "
             "delta = ours − paper (percentage points); std over seeds (n − 1).", ""]
    for sec in report["tables"]:
        lines += [f"## {sec['paper']} — {sec['title']}" + (f" (`{sec['config']}`)" if sec["config"] else ""), ""]
        if sec.get("skipped"):
            lines += [f"_{sec['skipped']}_", ""]
            continue
        lines += [ln + "  " for ln in _header(sec)] + [""] + _md_table(COLUMNS, [_cells(r) for r in sec["rows"]])
        if ordering := ordering_rows(sec):
            lines += ["", ORDERING_NOTE, ""] + _md_table(ORDERING_COLUMNS, ordering)
        if sec["figures"]:
            lines += ["", "Figures: " + " · ".join(f"[{_rel(f, Path(report['runs_dir']))}]({_rel(f, base)})"
                                                   for f in sec["figures"])]
        lines.append("")
    return "\n".join(lines)


CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#eee}"
       "td.pos{background:#d7f5d7}td.neg{background:#f8d4d4}p.meta{margin:.2em 0;font-size:90%}")


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
    shown = sec["rows"] if rows is None else rows
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
    for sec in report["tables"]:
        out.append(f"<h2>{e(sec['paper'])} — {e(sec['title'])}</h2>")
        out.append(section_html(sec))
        if sec["figures"]:
            out.append("<p>Figures: " + " · ".join(f"<a href=\"{e(_rel(f, base))}\">{e(_rel(f, Path(report['runs_dir'])))}</a>"
                                                   for f in sec["figures"]) + "</p>")
    return "\n".join(out + ["</body></html>", ""])


def write_csv(report: dict, path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for sec in report["tables"]:
            for r in sec["rows"]:
                w.writerow({**{k: "" if r[k] is None else round(r[k], 6) if isinstance(r[k], float) else r[k]
                               for k in CSV_COLUMNS},
                            "seeds": " ".join(map(str, r["seeds"])), "ours_values": " ".join(f"{v:.4f}" for v in r["ours_values"]),
                            "protocol_ours": json.dumps(r["protocol_ours"], sort_keys=True)})
    return Path(path)
