"""``adlib fit`` and ``adlib predict``: the command line of :mod:`adlib.workflow` and :mod:`adlib.prediction`."""

from __future__ import annotations

import json


def cmd_fit(a) -> int:
    from adlib.workflow import fit, parse_set

    run = fit(a.method, a.data, a.out, category=a.category, size=a.size, epochs=a.epochs, steps=a.steps,
              profile=None if a.profile == "none" else a.profile, config=parse_set(a.set), batch_size=a.batch_size,
              seed=a.seed, device=a.device, root=a.root, quantile=a.quantile,
              calibration_fraction=a.calibration_fraction, figures=not a.no_figures, progress=not a.no_progress,
              overwrite=a.force)
    man = run.manifest
    if run.results is None:
        print("no evaluation: the test split lacks normal or anomalous images (metrics need both)")
    else:
        for name, m in run.results["metrics"].items():
            v = m["value"]
            shown = f"unavailable ({m['protocol'].get('unavailable')})" if v is None else \
                f"{v:.4f}" if isinstance(v, float) else json.dumps(v)
            print(f"  {name:16s} {shown}")
    print(f"threshold: {man['threshold']['rule']} ({man['threshold']['quantile']} quantile of "
          f"{man['threshold']['calibrated_on']})")
    print(f"run: {run.dir}" + (f"  (summary: {run.dir / 'summary.html'})" if man["files"].get("summary") else ""))
    return 0


def cmd_predict(a) -> int:
    from adlib.prediction import predict

    res = predict(a.run, a.images, a.out, calibrate=a.calibrate, max_overlays=0 if a.no_overlays else a.max_overlays,
                  weights=a.weights, batch_size=a.batch_size, device=a.device, progress=not a.no_progress)
    print(f"decision rule: {res.rule}")
    n_bad = res.decisions.count("anomalous")
    print(f"{len(res.paths)} images: {n_bad} anomalous, {len(res.paths) - n_bad} normal")
    print(f"scores: {res.out / 'scores.csv'} · threshold: {res.out / 'threshold.json'}"
          + (f" · overlays: {res.out / 'overlays'}" if (res.out / 'overlays').is_dir() else ""))
    return 0


def add_fit_predict(sub) -> None:
    from adlib.run_dir import DEFAULT_CALIBRATION_FRACTION, DEFAULT_MAX_OVERLAYS, DEFAULT_PROFILE, DEFAULT_QUANTILE

    ft = sub.add_parser("fit", help="train a method on your images (or a named dataset) into a run folder")
    ft.add_argument("method", help="a registered method: rd, rd_var, mrkd, knn (adlib.methods.available())")
    ft.add_argument("--data", required=True, help="a folder (MVTec layout, or good/ + one folder per defect; masks "
                    "optional) or a dataset name (synthetic, mtd, mvtec_ad, ... with --category)")
    ft.add_argument("--category", default=None, help="the category (a sub-folder of --data, or the dataset's)")
    ft.add_argument("--size", type=int, default=None, help="image size in px (default: the profile's)")
    g = ft.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--steps", type=int, default=None)
    ft.add_argument("--batch-size", type=int, default=None)
    ft.add_argument("--profile", default=DEFAULT_PROFILE,
                    help=f"defaults from adlib/configs/profiles.yaml (default {DEFAULT_PROFILE}: CPU, Lite0 "
                         "teacher, 64 px); 'none' for the method's own config")
    ft.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a method setting (YAML value: --set lr=0.001 --set layers=[1,2,3]); repeat")
    ft.add_argument("--out", required=True, help="the run folder to write (not inside the data folder)")
    ft.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE,
                    help=f"threshold = this quantile of held-out normal scores (default {DEFAULT_QUANTILE})")
    ft.add_argument("--calibration-fraction", type=float, default=DEFAULT_CALIBRATION_FRACTION,
                    help="share of the training normals held out for the threshold (default "
                         f"{DEFAULT_CALIBRATION_FRACTION})")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", default="auto")
    ft.add_argument("--root", default=None, help="data root for named datasets (default: $ADLIB_DATA)")
    ft.add_argument("--no-figures", action="store_true")
    ft.add_argument("--force", action="store_true", help="replace the run in a non-empty --out")
    ft.add_argument("--no-progress", action="store_true")
    ft.set_defaults(func=cmd_fit)
    pd = sub.add_parser("predict", help="scores, decisions and heatmap overlays for new images")
    pd.add_argument("run", help="a run folder written by `adlib fit`")
    pd.add_argument("images", help="an image file or a folder of images")
    pd.add_argument("--out", required=True, help="where scores.csv, threshold.json and overlays/ go")
    pd.add_argument("--calibrate", default=None, metavar="DIR",
                    help="a labelled folder (good/ + defect folders): threshold at the best F1 there "
                         "(default: the run's quantile of held-out normal scores)")
    pd.add_argument("--max-overlays", type=int, default=DEFAULT_MAX_OVERLAYS,
                    help=f"overlay PNGs written at most, highest scores first (default {DEFAULT_MAX_OVERLAYS})")
    pd.add_argument("--no-overlays", action="store_true")
    pd.add_argument("--weights", default=None, help="the teacher's weights file, when not where the run found it")
    pd.add_argument("--batch-size", type=int, default=16)
    pd.add_argument("--device", default="auto")
    pd.add_argument("--no-progress", action="store_true")
    pd.set_defaults(func=cmd_predict)
