#!/usr/bin/env python
"""CPU speed of adlib as ratios against the code before a change, both measured in the same run.

    python benchmarks/cpu_speed.py [--base HEAD] [--sizes 128 64] [--methods all] [--repeats 3]
                                   [--threads 1] [--main-job] [--out docs/results]
    python benchmarks/cpu_speed.py --smoke        # CI: one method, 32 px, 2 steps, one repeat

The code before the change is a ``git worktree`` of ``--base`` (default ``HEAD``: what the working tree
changes); the code after it is the checkout this script lives in. Each figure is measured on both,
alternating base / head ``--repeats`` times (a drifting machine then slows both alike), and reported as
the median of the per-pair ratios head / base (> 1: the change is faster for a throughput, < 1 for a
time). Figures:

- **throughput** of every registered method (its quick-profile configuration, EfficientNet-Lite0
  teacher) at each size: training images/s (``adlib.engine.fit``: data, synthesis, forward, backward,
  step), inference images/s (``adlib.engine.evaluate_method`` without metrics) and the seconds its
  evaluation variants take (``adlib.experiment.evaluate_variants``, metrics included), on synthetic weave /
  tray data decoded in memory, after a one-step warm-up, in a fresh process per side and repeat;
- with ``--main-job``, **the README's main job** from an empty data root: data preparation
  (``adlib data prepare``), ``adlib reproduce --all`` (wall), its trainings / evaluations / variants
  summed from the results files, and the report (``adlib report``). Minutes per side and repeat.

Torch threads are set with ``--threads`` (and OMP/MKL) in every process and recorded.
Writes ``<out>/cpu_speed.json`` and ``.md`` (``--smoke``: ``cpu_speed_smoke.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
MAIN_JOB_PHASES = ("data_prepare_s", "reproduce_all_s", "trainings_s", "evaluations_s", "variants_s", "report_s")


# -- worker: runs inside one side's code (PYTHONPATH = that checkout) ------------------------------------
def _worker(spec: dict) -> dict:
    """Training and inference images/s of each ``(method, config, size)`` in ``spec["cells"]``."""
    import torch

    import adlib
    from adlib.data.catalog import open_dataset
    from adlib.engine import evaluate_method, fit
    from adlib.experiment import evaluate_variants
    from adlib.methods import build

    torch.set_num_threads(spec["threads"])
    if Path(adlib.__file__).resolve().parents[1] != Path(spec["side_root"]).resolve():
        raise RuntimeError(f"imported adlib from {adlib.__file__}, not from {spec['side_root']}")
    out = []
    for cell in spec["cells"]:
        torch.manual_seed(0)
        model = build(cell["method"], **cell["config"])
        kw = dict(root=spec["data_root"], image_size=cell["size"], normalize=model.input_spec, cache=True)
        train = open_dataset("synthetic", cell["category"], "train", **kw)
        test = open_dataset("synthetic", cell["category"], "test", **kw)
        data = model.prepare_data(train, category=cell["category"], seed=0)
        fit_kw = {k: v for k, v in (("val_data", data.val), ("calibration_data", data.calibration)) if v is not None}
        common = dict(batch_size=spec["batch"], seed=0, device="cpu", progress=False, **fit_kw)
        fit(model, data.train, steps=1, **common)  # warm-up: first-call allocations, caches, decoding
        t = time.perf_counter()
        fit(model, data.train, steps=spec["steps"], **common)
        train_s = time.perf_counter() - t
        evaluate_method(model, test, batch_size=16, device="cpu", progress=False, compute_metrics=False)  # warm-up
        ev = evaluate_method(model, test, batch_size=16, device="cpu", progress=False, compute_metrics=False)
        t = time.perf_counter()
        evaluate_variants(model, test, batch_size=16, device="cpu")  # the model's evaluation variants, with metrics
        variants_s = time.perf_counter() - t
        out.append({**{k: cell[k] for k in ("method", "size")}, "weights": model.weights_info(),
                    "train_images_per_s": spec["steps"] * spec["batch"] / train_s,
                    "infer_images_per_s": len(test) / ev.timings["predict_s"],
                    "variants": len(model.evaluation_variants()), "variants_s": variants_s})
    return {"cells": out, "torch_threads": torch.get_num_threads()}


# -- parent --------------------------------------------------------------------------------------------------
def _git(*args, cwd=REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _env(side: Path, threads: int | None, **more) -> dict:
    """The side's code first on the path; ``threads`` None: the thread variables removed (adlib's own choice)."""
    env = {**os.environ, "PYTHONPATH": str(side), **more}
    for k in ("ADLIB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def _run(cmd, side: Path, threads: int | None, **env) -> str:
    """Run ``cmd`` on ``side``'s code (:func:`_env`); its stdout, or an error with the end of its stderr."""
    proc = subprocess.run(cmd, cwd=side, env=_env(side, threads, **env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))[:200]} failed on {side.name}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def _run_worker(side: Path, spec: dict, threads: int) -> dict:
    out = _run([sys.executable, str(HERE), "--worker", json.dumps({**spec, "side_root": str(side)})], side, threads)
    return json.loads(out.strip().splitlines()[-1])


def quick_cells(methods, sizes) -> list[dict]:
    """One configuration per registered method: the first cell of its quick profile (EfficientNet-Lite0)."""
    from adlib.methods.base import available
    from adlib.reproduce import load_config, table_configs
    from adlib.reproduce.grid import expand
    from adlib.reproduce.schema import config_dir

    found: dict = {}
    for path in table_configs(config_dir()):
        cfg = load_config(path)
        if "quick" not in cfg.get("profiles", {}):
            continue
        for cell in expand(cfg, "quick"):
            found.setdefault(cell.method, (cell.config, cell.run["category"]))
    names = [m for m in available() if m in found] if methods == ["all"] else methods
    missing = [m for m in names if m not in found]
    if missing:
        raise SystemExit(f"no quick-profile cell for {missing}; have {sorted(found)}")
    return [{"method": m, "config": found[m][0], "category": found[m][1], "size": s} for m in names for s in sizes]


def _timed(cmd, side: Path, threads: int | None, **env) -> float:
    t = time.perf_counter()
    _run(cmd, side, threads, **env)
    return time.perf_counter() - t


def main_job(side: Path, work: Path, cells: bool = False) -> dict:
    """The README's main job on ``side`` from an empty data root, by phase (seconds), run as a user runs
    it: no thread variable set (adlib's own choice); ``cells``: also each training's record (results path under
    the runs folder, method, image AUROC, train seconds)."""
    data, runs = work / "data", work / "runs"
    for d in (data, runs):
        shutil.rmtree(d, ignore_errors=True)
    cli = [sys.executable, "-c", "import sys; from adlib.cli import main; sys.exit(main())"]
    from adlib.paths import shared_mtd_raw

    raw = shared_mtd_raw()  # named explicitly: a base worktree in a temporary folder has no ../shared beside it
    mtd = ["--mtd-src", str(raw)] if raw is not None else []
    out = {"data_prepare_s": _timed([*cli, "data", "prepare", "--root", str(data), "--no-progress", *mtd], side,
                                    None)}
    out["reproduce_all_s"] = _timed([*cli, "reproduce", "--all", "--out", str(runs), "--no-progress"], side, None,
                                    ADLIB_DATA=str(data))
    sums = {"trainings_s": 0.0, "evaluations_s": 0.0, "variants_s": 0.0, "n_trainings": 0}
    records = []
    for f in sorted(runs.rglob("results.json")):
        res = json.loads(f.read_text())
        t = res["timings"]
        ev = t.get("eval_predict_s", 0.0) + t.get("eval_metrics_s", 0.0)
        sums["trainings_s"] += t.get("train_s", 0.0)
        sums["evaluations_s"] += ev
        # variants: recorded since issue 22; before, what the cell spent besides training and its evaluation
        sums["variants_s"] += t["variants_s"] if "variants_s" in t else max(0.0, t.get("total_s", 0.0)
                                                                             - t.get("train_s", 0.0) - ev)
        sums["n_trainings"] += 1
        records.append({"path": f.relative_to(runs).as_posix(), "method": res["method"],
                        "image_auroc": res["metrics"].get("image_auroc", {}).get("value"),
                        "train_s": t.get("train_s"), "torch_threads": res["env"].get("torch_threads"),
                        "weights": f"{res['weights'].get('name')} ({res['weights'].get('source')})"})
    out.update(sums)
    out["report_s"] = _timed([*cli, "report", "rd_variance_loss", "mrkd", "daf", "dm_grd", "mhkd", "--runs", str(runs),
                              "--out", str(work / "report")], side, None)
    if cells:
        out["cells"] = records
    return out


def _ratio_rows(pairs: list[tuple[float, float]], higher_is_faster: bool) -> dict:
    """Median of base and head over repeats, and of the per-pair head/base ratio (with its range)."""
    ratios = [h / b for b, h in pairs if b and h]
    return {"base": statistics.median(b for b, _ in pairs), "head": statistics.median(h for _, h in pairs),
            "ratio": statistics.median(ratios) if ratios else None, "ratio_min": min(ratios, default=None),
            "ratio_max": max(ratios, default=None), "higher_is_faster": higher_is_faster, "n": len(pairs)}


def write_markdown(rec: dict, path: Path) -> None:
    lines = [f"# CPU speed: head vs base ({rec['base']['commit'][:10]}), ratios measured in one run", "",
             f"Machine: {rec['machine']['cpu_model']}, {rec['machine']['cpu_count']} cores, torch threads "
             f"{rec['threads']}, Python {rec['machine']['python']}, torch {rec['machine']['torch']}. Head "
             f"{rec['head']['commit'][:10]}{' + uncommitted changes' if rec['head']['dirty'] else ''}. "
             f"Each figure: median over {rec['repeats']} alternating base/head runs; ratio = head / base "
             "per pair (median, min–max; images/s: > 1 is faster, seconds: < 1 is faster). Command: `"
             + rec["command"] + "`.", "",
             f"Weights: {rec['weights']}. Data: adlib's synthetic categories (seed 0), decoded in memory.", "",
             "| method | px | train img/s base | head | ratio | infer img/s base | head | ratio | variants | "
             "their evaluation s base | head | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rec["throughput"]:
        t, i, v = r["train_images_per_s"], r["infer_images_per_s"], r["variants_s"]
        lines.append(f"| {r['method']} | {r['size']} | {t['base']:.1f} | {t['head']:.1f} | {_fmt(t)} | "
                     f"{i['base']:.1f} | {i['head']:.1f} | {_fmt(i)} | {r['variants']} | "
                     + (f"{v['base']:.2f} | {v['head']:.2f} | {_fmt(v)} |" if r["variants"] else "– | – | – |"))
    if rec.get("main_job"):
        lines += ["", "Main job (README), seconds (ratio < 1: head faster):", "", "| phase | base | head | ratio |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {v['base']:.1f} | {v['head']:.1f} | {_fmt(v)} |" for k, v in rec["main_job"].items()]
    path.write_text("\n".join(lines) + "\n")


def _fmt(v: dict) -> str:
    return "–" if v["ratio"] is None else f"{v['ratio']:.2f} ({v['ratio_min']:.2f}–{v['ratio_max']:.2f})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="HEAD", help="git revision of the code before the change (default HEAD)")
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 64])
    p.add_argument("--methods", nargs="+", default=["all"])
    p.add_argument("--steps", type=int, default=6, help="timed training steps per cell")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=int(os.environ.get("ADLIB_THREADS", 1)))
    p.add_argument("--main-job", action="store_true", help="also time the README's main job on both sides (minutes)")
    p.add_argument("--smoke", action="store_true", help="CI: rd only, 32 px, 2 steps, one repeat")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(REPO / "docs" / "results"))
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(_worker(json.loads(a.worker))))
        return 0
    if a.smoke:
        a.methods, a.sizes, a.steps, a.repeats, a.batch = ["rd"], [32], 2, 1, 4
    import torch

    from adlib.data.catalog import open_dataset
    from adlib.engine.env import cpu_model

    cells = quick_cells(a.methods, a.sizes)
    base_commit = _git("rev-parse", a.base)
    work = Path(tempfile.mkdtemp(prefix="adlib_cpu_speed_"))
    base_root = work / "base"
    _git("worktree", "add", "--detach", str(base_root), base_commit)
    try:
        data_root = work / "data"
        for c in {(c["category"], c["size"]) for c in cells}:  # generated once, outside the timings
            open_dataset("synthetic", c[0], "train", root=data_root, image_size=c[1])
        spec = {"cells": cells, "steps": a.steps, "batch": a.batch, "threads": a.threads, "data_root": str(data_root)}
        runs = {"base": [], "head": []}
        jobs = {"base": [], "head": []}
        for r in range(a.repeats):
            for side, root in (("base", base_root), ("head", REPO)):
                print(f"repeat {r + 1}/{a.repeats}: {side} throughput", flush=True)
                runs[side].append(_run_worker(root, spec, a.threads))
                if a.main_job:
                    print(f"repeat {r + 1}/{a.repeats}: {side} main job", flush=True)
                    jobs[side].append(main_job(root, work / f"job_{side}"))
        throughput = []
        for k, cell in enumerate(cells):
            row = {"method": cell["method"], "size": cell["size"], "config": cell["config"]}
            for fig in ("train_images_per_s", "infer_images_per_s", "variants_s"):
                row[fig] = _ratio_rows([(b["cells"][k][fig], h["cells"][k][fig])
                                        for b, h in zip(runs["base"], runs["head"])], fig != "variants_s")
            row["variants"] = runs["head"][0]["cells"][k]["variants"]
            throughput.append(row)
        main = ({ph: _ratio_rows([(b[ph], h[ph]) for b, h in zip(jobs["base"], jobs["head"])], False)
                 for ph in MAIN_JOB_PHASES} if a.main_job else None)
        weights = sorted({f"{c['weights'].get('name')} ({c['weights'].get('source')})"
                          for c in runs["head"][0]["cells"]})
        args = list(argv if argv is not None else sys.argv[1:])
        if "--out" in args:  # no machine path in the record
            del args[args.index("--out"):args.index("--out") + 2]
        rec = {"command": " ".join(["python benchmarks/cpu_speed.py", *args]),
               "base": {"rev": a.base, "commit": base_commit},
               "head": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain"))},
               "threads": a.threads, "repeats": a.repeats, "steps": a.steps, "batch": a.batch,
               "torch_threads_recorded": runs["head"][0]["torch_threads"], "weights": "; ".join(weights),
               "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                           "torch": torch.__version__, "platform": platform.platform()},
               "throughput": throughput, "main_job": main,
               "main_job_counts": {s: [j["n_trainings"] for j in jobs[s]] for s in jobs} if a.main_job else None}
    finally:
        _git("worktree", "remove", "--force", str(base_root))
        shutil.rmtree(work, ignore_errors=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "cpu_speed_smoke" if a.smoke else "cpu_speed"
    (out / f"{stem}.json").write_text(json.dumps(rec, indent=1) + "\n")
    write_markdown(rec, out / f"{stem}.md")
    print((out / f"{stem}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
