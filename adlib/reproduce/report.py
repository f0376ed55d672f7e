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

import statistics
from datetime import datetime, timezone
from pathlib import Path

from .cellstate import unavailable_metrics
from .grid import error_line, expand, load_config, variant_view
from .schema import ConfigError, profile_names

DEFAULT_METRICS = ("image_auroc", "pixel_auroc", "aupro", "aupro_fpr1")  # aupro_fpr1: DM-GRD's full-range PRO
# the protocol entries of results files that the "Protocol (ours)" line summarises
REPORTED_PROTOCOL_KEYS = ("image_size", "mask_resolution", "aupro_mode", "fpr_limits", "ckpt_selection", "epochs",
                          "batch_size", "device")
COLUMNS = ("setting", "dataset", "category", "metric", "paper", "ours (mean ± std, n)", "delta", "notes")
CSV_COLUMNS = ("paper_id", "table", "setting", "dataset", "category", "metric", "paper", "ours_mean", "ours_std", "n",
               "delta", "status", "notes", "seeds", "ours_values", "train_s_mean", "protocol_ours", "same_as")


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
    """``{name: number}`` with nested values joined by dots (``spro.mean.0.05``, ``loco_image_auroc.logical``)."""
    out = {}

    def walk(prefix: str, v) -> None:
        if isinstance(v, dict):
            for s, x in v.items():
                walk(f"{prefix}.{s}", x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix] = v

    for k, v in metrics.items():
        walk(k, v.get("value") if isinstance(v, dict) and "value" in v else v)
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


def selection_notes(results: list[dict], metric: str) -> list[str]:
    """For runs whose checkpoint was chosen on the test set (``best_on_test``, the papers' code): the last
    step's value beside the selected one, and what the selection added (mean over those seeds, points) —
    DM-GRD's issue point 4. A run whose best step was its last keeps no ``final_metrics``: inflation 0."""
    pairs = []
    for r in results:
        if r.get("protocol", {}).get("ckpt_selection") != "best_on_test":
            continue
        chosen = _flat(r["metrics"]).get(metric)
        final = (r.get("extra") or {}).get("final_metrics")
        last = chosen if final is None else _flat(final).get(metric)
        if isinstance(chosen, (int, float)) and isinstance(last, (int, float)):
            pairs.append((100.0 * chosen, 100.0 * last))
    if not pairs:
        return []
    chosen, last = statistics.fmean(p[0] for p in pairs), statistics.fmean(p[1] for p in pairs)
    return [f"checkpoint chosen on the test set (inflating); the last step's model: {last:.2f}, "
            f"selection adds {chosen - last:+.2f} (n = {len(pairs)})"]


def _table(cfg: dict, runs_dir, profile: str, metrics, source: str | None) -> dict:
    paper, table = cfg["paper"], str(cfg["table"])
    metrics = tuple(cfg.get("metrics") or metrics)  # a table's own metrics (LOCO: nested sPRO values)
    ref, scale = _reference(paper)
    reference = [{**r, "value": r["value"] * scale} for r in ref["values"] if str(r["table"]) == table]
    refs = {(r["setting"], r["dataset"], r["category"], r["metric"]): r["value"] for r in reference}
    from adlib.paths import portable_path

    sec = {"paper": paper, "table": table, "title": table_title(cfg), "config": portable_path(source) if source else source,
           "profile": profile,
           "protocol_paper": ref.get("protocol", {}), "paper_title": ref.get("title"), "rows": [], "figures": [],
           "weights": [], "data": [], "protocol_ours": {}, "test_counts": {},
           "reference": reference, "image_scores": {}}
    if profile not in profile_names(cfg):
        sec["skipped"] = f"config has no {profile!r} profile"
        return sec
    from .summary import profile_meaning

    sec["meaning"] = profile_meaning(cfg, profile)
    from adlib.experiment import category_name

    groups: dict = {}
    for cell in expand(cfg, profile):
        ds, cat, seed = cell.run["dataset"], category_name(cell.run["category"]), cell.run["seed"]
        name = reference_setting(cell.setting, cell.method)
        g = groups.setdefault((name, ds, cat), {"seeds": [], "results": [], "missing": [], "failed": {}, "trained": []})
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
            g["trained"].append(f"{path}#{cell.variant or ''}")
            scores = (res.get("extra") or {}).get("image_scores")
            if scores and not cell.variant:  # variants keep only metrics; the scores are the main model's
                sec["image_scores"].setdefault(name, {}).setdefault(cat, {})[seed] = scores
            sec["figures"] += [str(f) for f in sorted(path.parent.glob("*.png")) + sorted((path.parent / "figures").glob("*.png"))]
        elif (why := cell.failure(runs_dir)) is not None:
            g["failed"][seed] = why
        else:
            g["missing"].append(seed)
    allres = [r for g in groups.values() for r in g["results"]]
    seen = {m for r in allres for m in _flat(r["metrics"])} | {k[3] for k in refs} | set(unavailable_metrics(allres))
    names = [m for m in metrics if m in seen]
    # a metric the paper reports for this table (DAF's pixel AP) is compared even when it is not a default one
    names += [m for m in dict.fromkeys(k[3] for k in refs) if m not in names and m in _flat_all(allres)]
    sec["protocol_ours"] = protocol_summary(allres)
    for (_, _, cat), g in groups.items():
        for r in g["results"]:
            test = (r["data"].get("counts") or {}).get("test")
            if isinstance(test, dict):
                sec["test_counts"].setdefault(cat, [test.get("good", 0), sum(v for k, v in test.items() if k != "good")])
    for r in allres:
        w = {k: r["weights"].get(k) for k in ("name", "source", "sha256")}
        d = {"name": r["data"].get("name"), "split_seed": r["data"].get("split_seed"),
             "counts": {s: sum(c.values()) if isinstance(c, dict) else c for s, c in (r["data"].get("counts") or {}).items()}}
        sec["weights"] += [w] if w not in sec["weights"] else []
        sec["data"] += [d] if d not in sec["data"] else []

    def row(name, ds, cat, metric, values, status, notes, seeds, res=(), train=(), trained=()):
        mean, std, n = _stats([100.0 * v for v in values])
        p = refs.get((name, ds, cat, metric))
        return {"paper_id": paper, "table": table, "setting": name, "dataset": ds, "category": cat, "metric": metric,
                "paper": p, "ours_mean": mean, "ours_std": std, "n": n,
                "delta": None if mean is None or p is None else mean - p, "status": status, "notes": notes,
                "seeds": list(seeds), "ours_values": [100.0 * v for v in values],
                "train_s_mean": statistics.fmean(train) if train else None, "protocol_ours": protocol_summary(list(res)),
                "trained": sorted(trained), "same_as": None}

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
                                   "; ".join(notes + selection_notes(g["results"], m)), seeds, g["results"], train,
                                   g["trained"]))
    cats = list(dict.fromkeys(k[2] for k in groups))
    if len(cats) > 1:  # the paper's "average" rows: per seed, the mean over all categories
        for name, ds in dict.fromkeys((k[0], k[1]) for k in groups):
            for m in names:
                by_seed: dict = {}
                trained = []
                for r in sec["rows"]:
                    if (r["setting"], r["dataset"], r["metric"]) == (name, ds, m):
                        trained += r["trained"]
                        for s, v in zip(r["seeds"], r["ours_values"]):
                            by_seed.setdefault(s, {})[r["category"]] = v / 100.0
                full = {s: statistics.fmean(v.values()) for s, v in by_seed.items() if len(v) == len(cats)}
                done = len({c for v in by_seed.values() for c in v})
                note = f"mean over {len(cats)} categories" if full else f"incomplete: {done}/{len(cats)} categories"
                if full or (name, ds, "average", m) in refs:
                    sec["rows"].append(row(name, ds, "average", m, list(full.values()), "ok" if full else "not run",
                                           note, sorted(full), trained=trained if full else ()))
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


def _flat_all(results: list[dict]) -> set:
    return {m for r in results for m in _flat(r["metrics"])}


def report_metrics(sec: dict) -> list[str]:
    """The metrics a report table has rows or paper values for, in the report's order."""
    return list(dict.fromkeys([r["metric"] for r in sec["rows"] if r["metric"]]
                              + [r["metric"] for r in sec.get("reference", [])]))


def mark_same_training(tables: list[dict]) -> None:
    """Rows whose numbers come from the same trainings (results files, and variant) as rows of an
    earlier table or setting get ``same_as`` = ``"<paper> <title>, <setting>, <category>"`` of the first."""
    first: dict = {}
    for sec in tables:
        for r in sec["rows"]:
            if not r.get("trained"):
                continue
            here = f"{sec['paper']} {sec['title']}, {r['setting']}, {r['category']}"
            key = (tuple(r["trained"]), r["metric"])
            r["same_as"] = None if first.setdefault(key, here) == here else first[key]


def profiles_in(configs, runs_dir, seeds=None) -> list[str]:
    """The profiles of ``configs`` that have cells under ``runs_dir`` (a results file or an ``error.txt``
    in a cell's folder; any seed), in the configs' order."""
    runs = Path(runs_dir)
    found = {p.parent.parent for name in ("results.json", "error.txt") for p in runs.rglob(name)}
    out: dict = {}
    for c in configs:
        cfg = load_config(c) if not isinstance(c, dict) else c
        cfg = dict(cfg, seeds=list(seeds)) if seeds else cfg
        for profile in profile_names(cfg):
            if profile in out:
                continue
            try:
                cells = expand(cfg, profile)
            except ConfigError:
                continue
            if any(cell.results_path(runs).parent.parent in found for cell in cells):
                out[profile] = True
    return list(out)


def has_results(report: dict) -> bool:
    """Whether any row has a result, a failure or a note (False: nothing of these tables was run there)."""
    return any(r["n"] or r["status"] != "not run" or "failed" in (r["notes"] or "")
               for sec in report["tables"] for r in sec["rows"])


def build_report(configs, runs_dir, profile: str = "small", out_dir=None, metrics=DEFAULT_METRICS,
                 seeds=None, figures: bool = True) -> dict:
    """Collect every config (a path or a dict: one paper table) into a report dict; with ``out_dir``
    also write ``report_<profile>.md/.html/.csv`` and the figures there (:func:`write_report`).
    ``seeds`` replaces the configs' own seeds (as ``adlib reproduce --seeds`` does)."""
    tables, offered = [], {}
    for c in configs:
        cfg, source = (c, None) if isinstance(c, dict) else (load_config(c), str(c))
        cfg = dict(cfg, seeds=list(seeds)) if seeds else cfg
        offered.update(dict.fromkeys(profile_names(cfg)))
        tables.append(_table(cfg, runs_dir, profile, tuple(metrics), source))
    if tables and profile not in offered:
        raise ConfigError(f"unknown profile {profile!r}: no table offers it (they offer: {', '.join(offered)})")
    mark_same_training(tables)
    report = {"profile": profile, "runs_dir": str(runs_dir), "tables": tables, "files": {}, "figures": {},
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if out_dir is not None:
        write_report(report, out_dir, figures=figures)
    return report


def write_report(report: dict, out_dir, figures: bool = True) -> dict:
    """Write ``report_<profile>.md/.html/.csv`` and (``figures``) the PNG figures into ``out_dir``;
    their paths go into ``report["files"]`` and ``report["figures"]``."""
    from adlib.fileio import atomic_write_text

    from .figures import write_figures
    from .summary import summary_rows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report["summary"] = summary_rows(report)
    if figures:
        report["figures"] = write_figures(report, out)
    for kind, ext, writer in (("markdown", "md", to_markdown), ("html", "html", to_html), ("csv", "csv", write_csv)):
        path = out / f"report_{report['profile']}.{ext}"
        writer(report, path) if kind == "csv" else atomic_write_text(path, writer(report, out))
        report["files"][kind] = str(path)
    return report


from .report_files import (ORDERING_COLUMNS, ORDERING_NOTE, ordering_rows, section_html, to_html,  # noqa: E402
                           to_markdown, write_csv)
from .summary import summary_markdown, summary_rows  # noqa: E402

__all__ = ["build_report", "write_report", "summary_rows", "summary_markdown", "settings_view", "report_metrics",
           "section_html", "ordering_rows", "profiles_in", "has_results", "reference_setting", "error_line",
           "ORDERING_COLUMNS", "ORDERING_NOTE", "to_markdown", "to_html", "write_csv"]
