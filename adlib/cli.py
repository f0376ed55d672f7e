"""``adlib`` command line.

    adlib data prepare [--root DIR]      synthetic categories + MTD (when a raw copy is found)
    adlib data synth [--root DIR] [--categories weave nut ...] [--size 128] [--seed 0]
    adlib data fetch NAME [--root DIR] [--offline] ...   (same as data_scripts/download_NAME.py)
    adlib data list [--root DIR]         what is prepared under the data root
    adlib reproduce TABLE [--profile small|full] [--seeds 0 1 2] [--out runs]   run a paper table's grid
                                         (TABLE: mrkd/table5, a name under adlib/configs, or a .yaml path)
    adlib reproduce --all [--full]       every table: quick CPU profiles (+ MTD if present), then the report
    adlib report TABLE|PAPER ... --runs runs [--profile P] [--out reports]   summary, verdicts, figures, tables
                                         (default: each profile found under --runs)
    adlib fit METHOD --data DIR|NAME [--category C] [--size N] [--epochs E | --steps S] [--profile P]
              [--set key=value ...] --out RUN      train on your images (or a dataset) into a run folder
    adlib predict RUN IMAGES_OR_DIR --out DIR [--calibrate LABELLED_DIR] [--max-overlays N]
                                         scores.csv, overlays and the threshold for new images
    adlib distill-pdn [--size small|medium] [--steps N] [--image-size S] [--device cuda] ...
                                         distil the offline PDN teacher (EfficientNet-Lite target, packaged
                                         images) into the PDN cache, with its recipe and held-out fidelity
    adlib eval --maps DIR --dataset NAME --category CAT [--resolution original|N] [--out FILE]
                                         every metric of saved anomaly maps (<DIR>/<category>/test/<defect>/<id>.tiff)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from adlib.paths import data_root, shared_mtd_raw


def _synth(root: Path, categories=None, size: int = 128, seed: int = 0, progress: bool = True) -> Path:
    from adlib.data.synthetic import generate

    out = root / "synthetic"
    generate(out, categories=categories, seed=seed, image_size=size, progress=progress)
    return out


def _summary(root: Path) -> list[str]:
    """One line per prepared category under ``root`` (MVTec and LOCO layouts, one level deep)."""
    from adlib.data.mvtec import list_categories

    lines = []
    dataset_dirs = [root] + sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for ds in dataset_dirs:
        for cat in list_categories(ds):
            counts = {}
            for split in ("train", "validation", "test"):
                sdir = ds / cat / split
                if sdir.is_dir():
                    counts[split] = sum(1 for d in sdir.iterdir() if d.is_dir() for _ in d.iterdir())
            name = cat if ds == root else f"{ds.name}/{cat}"
            lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return lines


def cmd_prepare(a) -> int:
    root = Path(a.root).expanduser()
    print(f"data root: {root}")
    out = _synth(root, size=a.size, seed=a.seed, progress=not a.no_progress)
    print(f"synthetic categories ready in {out}")
    raw = Path(a.mtd_src) if a.mtd_src else shared_mtd_raw()
    if raw is not None:
        from adlib.data.mtd import prepare_mtd

        mtd = prepare_mtd(raw, root, size=a.mtd_size, seed=a.seed, progress=not a.no_progress)
        counts = json.loads((mtd / "split.json").read_text())["counts"]
        print(f"MTD ready in {mtd} (from {raw}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    else:
        print("MTD: no raw copy found (../shared/datasets/mtd_raw or --mtd-src); "
              "run data_scripts/download_mtd.py to get it")
    print("prepared:")
    print("\n".join(_summary(root)))
    return 0


def cmd_synth(a) -> int:
    out = _synth(Path(a.root).expanduser(), a.categories, a.size, a.seed, not a.no_progress)
    print(f"synthetic categories ready in {out}")
    return 0


def cmd_list(a) -> int:
    root = Path(a.root).expanduser()
    lines = _summary(root)
    print(f"data root: {root}" + ("" if lines else " (nothing prepared yet: run `adlib data prepare`)"))
    print("\n".join(lines))
    return 0


def cmd_reproduce(a) -> int:
    if a.engine is None:  # a table's notebook runs its cells; without one (or with --all) run_experiment does
        a.engine = "python" if a.all or not _names_notebook(a.config) else "notebook"
    if a.all:
        return cmd_reproduce_all(a)
    if not a.config:
        print("error: give a table (e.g. mrkd/table5, or a .yaml path) or --all", file=sys.stderr)
        return 2
    try:
        status = _run_config(a, a.config, a.profile, strict=True)
    except KeyboardInterrupt:
        print(f"interrupted: finished cells are kept under {a.out}; the interrupted one left no results "
              "and runs again next time", file=sys.stderr)
        return 130
    from adlib.experiment import category_name

    for st in status:
        print(f"{st['status']:>16s}  {category_name(st['category'])}  {st['tag']}"
              + (f"  ({st['note']})" if st.get("note") else ""))
    failed = [st for st in status if st["status"].startswith("failed")]
    missing = [st for st in status if st["status"].startswith("not run")]
    busy = [st for st in status if st["status"].startswith("skipped (running elsewhere")]
    print(f"{len(status) - len(failed) - len(missing) - len(busy)}/{len(status)} cells done, {len(missing)} not run "
          f"(data or weights missing), {len(failed)} failed"
          + (f", {len(busy)} being run by another process (run again when it is done)" if busy else "")
          + f"; results under {a.out}")
    return 1 if failed or busy else 0


def _names_notebook(config) -> bool:
    """Whether a table config names a notebook (True when it cannot be read: the run reports why)."""
    from adlib.reproduce import load_config

    try:
        return bool(load_config(config).get("notebook")) if config else True
    except Exception:  # noqa: BLE001 - the error is reported by the run itself
        return True


def cmd_reproduce_all(a) -> int:
    """Every table of every paper: the quick CPU profiles (synthetic, + MTD when present), or --full."""
    from adlib.reproduce import table_configs
    from adlib.reproduce.report import build_report
    from adlib.reproduce.schema import config_dir

    root = config_dir()
    configs = table_configs(root)
    if not configs:
        print(f"error: no table configs under {root}", file=sys.stderr)
        return 1
    if a.full:
        profiles = ["full"]
    else:
        from adlib.data.catalog import dataset_root

        mtd_there = shared_mtd_raw() is not None or (dataset_root("mtd") / "mtd").is_dir()
        profiles = ["quick"] + (["quick_mtd"] if mtd_there else [])
        print("profiles:", ", ".join(profiles) + ("" if mtd_there else " (MTD not found: synthetic only)"))
    failed, missing = 0, Counter()
    for cfg, profile, status in _run_all_tables(a, configs, profiles):
        failed += sum(st["status"].startswith("failed") for st in status)
        missing.update(st["status"] for st in status if st["status"].startswith("not run"))
        done = sum(st["status"] in ("done", "skipped (done)") for st in status)
        print(f"{cfg.relative_to(root)} [{profile}]: {done}/{len(status)} cells done")
    paths = []
    for profile in profiles:
        rep = build_report(configs, a.out, profile, out_dir=Path(a.out) / "report", seeds=a.seeds)
        paths.append(rep["files"]["markdown"])
    for why, n in missing.most_common(5):
        print(f"{n} cell{'s' if n > 1 else ''} {why}")
    if len(missing) > 5:
        print(f"... and {len(missing) - 5} more reasons")
    print(f"{failed} failed cells" if failed else
          f"{missing.total()} cells not run (data or weights missing), none failed" if missing else "all cells done")
    for p in paths:
        print(f"report: {p}")
    return 1 if failed else 0


def _run_all_tables(a, configs, profiles):
    """``(config path, profile, status)`` of every table: on a CPU with the python engine, every table's
    cells from one queue in a few single-threaded worker processes (:mod:`adlib.reproduce.pool`); else
    table by table."""
    import torch

    from adlib.reproduce import load_config, profile_names
    from adlib.reproduce.pool import cpu_workers, run_tables

    workers, threads = cpu_workers()
    if a.workers is not None:
        workers, threads = a.workers, max(1, (os.cpu_count() or 1) // max(1, a.workers))
    if a.engine != "python" or a.timeout or workers <= 1 or (a.workers is None and torch.cuda.is_available()):
        a.workers = a.workers or 1
        return [(cfg, profile, _run_config(a, cfg, profile)) for profile in profiles for cfg in configs]
    tables = []
    for profile in profiles:
        for cfg_path in configs:
            cfg = load_config(cfg_path)
            if profile in profile_names(cfg):
                if a.seeds:
                    cfg["seeds"] = a.seeds
                tables.append((cfg_path, profile, cfg))
    print(f"{workers} worker processes × {threads} torch thread{'s' if threads > 1 else ''}")
    status = run_tables([(cfg, profile) for _, profile, cfg in tables], a.out, workers, threads,
                        progress=not a.no_progress)
    return [(path, profile, st) for (path, profile, _), st in zip(tables, status)]


def _run_config(a, config, profile, strict: bool = False) -> list[dict]:
    """Run one table's cells; a table without ``profile`` is an error when ``strict``, else has no cells."""
    from adlib.reproduce import load_config, profile_names, run_grid

    cfg = load_config(config)
    if profile not in profile_names(cfg) and not strict:
        return []
    if a.seeds:
        cfg["seeds"] = a.seeds
    if a.engine == "python":
        status = run_grid(cfg, profile, a.out, progress=not a.no_progress, workers=a.workers or 1,
                          timeout_s=a.timeout)
    else:
        from adlib.reproduce.jobs import jobs_for

        jobs = jobs_for(cfg, profile, a.out)
        if a.engine == "notebook":
            from adlib.reproduce.notebook_runner import run_jobs

            devices = a.devices if a.devices in ("auto", "cpu") else [d.strip() for d in a.devices.split(",")]
            status = run_jobs(jobs, devices=devices, timeout_s=a.timeout, progress=not a.no_progress)
        elif a.engine == "ray":
            from adlib.reproduce.scaleout import submit_ray

            status = submit_ray(jobs, address=a.ray_address, timeout_s=a.timeout)
        else:
            from adlib.reproduce.scaleout import submit_submitit

            executor = "slurm" if a.engine == "slurm" else "local"
            status = submit_submitit(jobs, str(Path(a.out) / "_submitit"), executor=executor, timeout_s=a.timeout)
    return status


def cmd_report(a) -> int:
    """The report of each profile found under --runs (or of --profile); no results there is an error."""
    from adlib.reproduce import find_configs, load_config
    from adlib.reproduce.report import build_report, has_results, profiles_in, write_report

    configs = [p for c in a.configs for p in find_configs(c)]
    runs = Path(a.runs).expanduser()
    if not runs.is_dir():
        if a.profile:
            build_report(configs, runs, a.profile, None, seeds=a.seeds)  # config and profile errors first
        else:
            [load_config(c) for c in configs]
        print(f"error: runs folder {runs} {'is a file' if runs.exists() else 'not found'}: give the --out folder "
              "of `adlib reproduce` (default ./runs) with --runs", file=sys.stderr)
        return 2
    profiles = [a.profile] if a.profile else profiles_in(configs, runs, a.seeds)
    if not profiles:
        print(f"error: {runs} holds no results of these tables ({sum(1 for _ in runs.rglob('results.json'))} "
              "results files there, none a cell of theirs): give the --out folder of `adlib reproduce`, or --profile",
              file=sys.stderr)
        return 1
    if not a.profile:
        print(f"profiles found in {runs}: {', '.join(profiles)}")
    rc = 0
    for profile in profiles:
        rep = build_report(configs, runs, profile, None, seeds=a.seeds)
        for sec in rep["tables"]:
            rows = sec["rows"]
            done = sum(r["n"] > 0 for r in rows)
            print(f"{sec['paper']} {sec['title']}: {sec.get('skipped') or f'{done}/{len(rows)} rows with results'}")
            problems = [(r["setting"], r["category"], r["status"] if r["status"].startswith("failed") else
                         f"{r['metric']} {r['status']}" if r["status"].startswith("unavailable") else r["notes"])
                        for r in rows if r["status"].startswith(("failed", "unavailable")) or "failed" in (r["notes"] or "")]
            for setting, category, what in dict.fromkeys(problems):  # failed cells and corrupt files, named
                print(f"  {setting} {category}: {what}")
        if not has_results(rep):
            print(f"error: no results of profile {profile!r} under {runs} (every cell not run): give the --out folder "
                  "of `adlib reproduce`, or the --profile it ran", file=sys.stderr)
            rc = 1
            continue
        write_report(rep, a.out)
        print(rep["files"]["markdown"])
    return rc


def cmd_eval(a) -> int:
    from adlib.engine.saved_maps import evaluate_saved_maps

    res = evaluate_saved_maps(a.maps, a.dataset, a.category, root=a.root, resolution=a.resolution,
                              mask_interpolation=a.mask_interpolation, aupro_mode=a.aupro_mode,
                              fpr_limit=a.fpr_limit, progress=not a.no_progress, image_score=a.image_score)
    proto = res["protocol"]
    print(f"{a.dataset}/{a.category}: {res['counts']['n_images']} maps ({res['counts']['n_anomalous']} anomalous), "
          f"evaluated at {proto['evaluated_at'][0]}×{proto['evaluated_at'][1]}, resolution {proto['resolution']}, "
          f"maps resized: {proto['maps_resized']}, image score = {proto['image_score']}")
    for name, m in res["metrics"].items():
        value = m["value"]
        shown = (json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in value.items()})
                 if isinstance(value, dict) else f"unavailable: {m['protocol'].get('unavailable')}"
                 if value is None else f"{value:.4f}")
        extra = f" ({m['protocol']['mode']}, FPR ≤ {m['protocol']['fpr_limit']})" if name == "aupro" and value is not None else ""
        print(f"  {name:16s} {shown}{extra}")
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2, allow_nan=False) + "\n")
        print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["data", "fetch"]:
        if len(argv) < 3 or argv[2].startswith("-"):
            from adlib.data.sources import SOURCES

            print(f"usage: adlib data fetch NAME [options]; NAME is one of {sorted(SOURCES)}", file=sys.stderr)
            return 2
        from adlib.data.download_cli import cli

        return cli(argv[2], argv[3:])
    if argv[:1] == ["distill-pdn"]:
        from adlib.teachers.distill import main as distill_main

        return distill_main(argv[1:], prog="adlib distill-pdn")
    p = argparse.ArgumentParser(prog="adlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="group", required=True)
    data = sub.add_parser("data", help="prepare, generate, download and list datasets")
    dsub = data.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=str(data_root()), help="data root (default: $ADLIB_DATA, else ~/.cache/adlib/data)")
    common.add_argument("--no-progress", action="store_true")
    pr = dsub.add_parser("prepare", parents=[common], help="synthetic data + MTD if a raw copy is found")
    pr.add_argument("--size", type=int, default=128, help="synthetic image size (default 128)")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--mtd-src", default=None, help="raw MTD folder (default: ../shared/datasets/mtd_raw if present)")
    pr.add_argument("--mtd-size", type=int, default=256, help="resize MTD to this size (default 256)")
    pr.set_defaults(func=cmd_prepare)
    sy = dsub.add_parser("synth", parents=[common], help="generate synthetic MVTec / LOCO layout categories")
    sy.add_argument("--categories", nargs="*", default=None)
    sy.add_argument("--size", type=int, default=128)
    sy.add_argument("--seed", type=int, default=0)
    sy.set_defaults(func=cmd_synth)
    dsub.add_parser("fetch", help="download one dataset: adlib data fetch NAME --help")
    sub.add_parser("distill-pdn", help="distil the offline PDN teacher: adlib distill-pdn --help")
    ls = dsub.add_parser("list", parents=[common], help="what is prepared under the data root")
    ls.set_defaults(func=cmd_list)
    rp = sub.add_parser("reproduce", help="run the grid of one paper table (adlib/configs/<paper>/<table>.yaml)")
    rp.add_argument("config", nargs="?", metavar="TABLE",
                    help="<paper>/<table> (a name under adlib/configs, e.g. mrkd/table5) or a .yaml path (or --all)")
    rp.add_argument("--all", action="store_true", help="every table: quick CPU profiles (+ MTD if present), then the report")
    rp.add_argument("--full", action="store_true", help="with --all: the papers' settings (GPU, datasets, weights)")
    rp.add_argument("--profile", default="small",
                    help="small (CPU, default) | full (the paper's settings) | quick | quick_mtd | gpu | ... (the table's profiles)")
    rp.add_argument("--out", default="runs", help="results folder (default ./runs)")
    rp.add_argument("--engine", default=None, choices=["notebook", "python", "submitit-local", "slurm", "ray"],
                    help="notebook: papermill runs of the table's notebook (default for one config that names one); python: "
                         "in-process, only the cell's method (default for --all: minutes on a CPU); "
                         "submitit-local / slurm / ray: the same jobs on an existing scheduler (extra 'scaleout')")
    rp.add_argument("--devices", default="auto", help="auto (every visible GPU, else CPU) | cpu | 0,1,...")
    rp.add_argument("--timeout", type=float, default=None, help="per-cell time limit in seconds")
    rp.add_argument("--workers", type=int, default=None,
                    help="with --engine python: cells trained at once in separate processes (several small "
                         "models can share one large GPU; default 1, and with --all on a CPU one "
                         "single-threaded worker per core up to 4 cores)")
    rp.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="seeds to run instead of the config's (e.g. 0 1 2: the report gives mean ± std)")
    rp.add_argument("--ray-address", default=None)
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=cmd_reproduce)
    rr = sub.add_parser("report", help="paper / ours / delta for paper tables (markdown, HTML, CSV)")
    rr.add_argument("configs", nargs="+", metavar="TABLE",
                    help="<paper>/<table> or <paper> (all its tables) under adlib/configs, or .yaml paths / folders")
    rr.add_argument("--runs", default="runs", help="results folder (default ./runs)")
    rr.add_argument("--profile", default=None,
                    help="small | full | quick | ... (default: every profile whose results are under --runs)")
    rr.add_argument("--seeds", type=int, nargs="+", default=None, help="the seeds that reproduce ran with --seeds")
    rr.add_argument("--out", default="reports", help="folder for report_<profile>.md/.html/.csv (default ./reports)")
    rr.set_defaults(func=cmd_report)
    ev = sub.add_parser("eval", help="every metric of anomaly maps saved in the official evaluation scripts' layout")
    ev.add_argument("--maps", required=True, help="folder holding <category>/test/<defect>/<image stem>.tiff (.tif/.npy/.png)")
    ev.add_argument("--dataset", required=True, help="mvtec_ad | mvtec_loco | visa | btad | mtd | synthetic | a folder")
    ev.add_argument("--category", required=True)
    ev.add_argument("--root", default=None, help="data root (default: $ADLIB_DATA, else ~/.cache/adlib/data)")
    ev.add_argument("--resolution", default="original",
                    help="original (ground truth at its size on disk, as the official scripts; default) | N (N×N)")
    ev.add_argument("--mask-interpolation", default="nearest", choices=["nearest", "bilinear"],
                    help="how masks are resized with --resolution N (RD4AD: bilinear then > 0.5)")
    ev.add_argument("--aupro-mode", default="mvtec", choices=["mvtec", "rd4ad_legacy", "daf_legacy"])
    ev.add_argument("--fpr-limit", type=float, default=0.3)
    ev.add_argument("--image-score", default="max",
                    help="image score of a map: max (RD4AD, MRKD, EfficientAD; default) | topk_mean:K "
                         "(mean of the K largest values: DAF 50, DM-GRD 100)")
    ev.add_argument("--out", default=None, help="write the results (with their protocol) to this JSON file")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=cmd_eval)
    from adlib.cli_fit import add_fit_predict, cmd_fit, cmd_predict

    add_fit_predict(sub)
    a = p.parse_args(argv)
    from adlib.data.errors import DataError

    try:
        return a.func(a)
    except (TypeError, KeyError) as exc:
        if a.func not in (cmd_fit, cmd_predict):
            raise
        # an unknown method, a method setting of the wrong name or type (make_config)
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return 1
    except (DataError, ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
