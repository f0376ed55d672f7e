#!/usr/bin/env python
"""Cross-check adlib's exact AU-PRO and pixel AUROC against an independent implementation: anomalib's.

anomalib is not an adlib dependency; run this in an environment that has both:

    python -m venv /tmp/anovenv && /tmp/anovenv/bin/pip install anomalib && /tmp/anovenv/bin/pip install --no-deps -e .
    /tmp/anovenv/bin/python benchmarks/crosscheck_anomalib.py --out docs/results

anomalib (v2.3 and later) computes AU-PRO exactly (connected components with OpenCV on the CPU,
one sort, per-region cumulative sums), the same quantity as the official MVTec script and adlib's
``mode="mvtec"``. Pixel AUROC is compared with torchmetrics' ``BinaryAUROC`` (anomalib's backend).
Sets: the benchmark set of ``benchmarks/metrics.py`` (200 maps of 256², ~30 % anomalous), the same
rounded to one decimal (many ties), and small random sets with one-pixel and border regions.
Writes ``metrics_crosscheck_anomalib.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from metrics import make_set  # noqa: E402  (benchmarks/metrics.py)

LIMITS = (0.05, 0.3, 1.0)


def small_sets(n_sets: int = 4):
    """Random 12² sets with one-pixel and border-touching regions, half with ties (the unit tests' sets)."""
    from test_metrics import random_set

    return {f"random 12² seed {s}": random_set(s, n=8, size=12, anomalous=4, decimals=[None, 1][s % 2])
            for s in range(n_sets)}


def compare(name: str, maps: np.ndarray, masks: np.ndarray) -> dict:
    from anomalib.metrics.aupro import _AUPRO
    from torchmetrics.classification import BinaryAUROC

    from adlib.metrics import aupro, pixel_auroc

    m, g = torch.from_numpy(maps).float(), torch.from_numpy(masks > 0.5)
    row = {"set": name, "n": int(m.shape[0]), "size": list(m.shape[1:]), "regions_pixels_pct": round(100 * float(g.float().mean()), 3)}
    for lim in LIMITS:
        t = time.perf_counter()
        ours = aupro(m, g, fpr_limit=lim).value
        t_ours = time.perf_counter() - t
        metric = _AUPRO(fpr_limit=lim)
        metric.update(m, g.long())
        t = time.perf_counter()
        theirs = float(metric.compute())
        t_theirs = time.perf_counter() - t
        row[f"aupro@{lim}"] = {"adlib": ours, "anomalib": theirs, "abs_diff": abs(ours - theirs),
                               "adlib_s": round(t_ours, 4), "anomalib_s": round(t_theirs, 4)}
    auroc = BinaryAUROC()
    auroc.update(m.flatten(), g.flatten().long())
    theirs = float(auroc.compute())
    ours = pixel_auroc(m, g).value
    row["pixel_auroc"] = {"adlib": ours, "torchmetrics": theirs, "abs_diff": abs(ours - theirs)}
    return row


def main(argv=None) -> int:
    import anomalib
    import torchmetrics

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--out", default=None, help="folder for metrics_crosscheck_anomalib.{json,md}")
    a = p.parse_args(argv)
    maps, masks, *_ = make_set(a.n, a.size)
    sets = {f"benchmark {a.n}×{a.size}²": (maps, masks), f"benchmark {a.n}×{a.size}², rounded to 0.1 (ties)":
            (np.round(maps, 1), masks), **small_sets()}
    rows = [compare(name, mp, mk) for name, (mp, mk) in sets.items()]
    worst = max(r[k]["abs_diff"] for r in rows for k in r if isinstance(r[k], dict))
    from adlib.engine import environment_report, git_commit

    record = {"what": "adlib.metrics (mode mvtec) vs anomalib _AUPRO and torchmetrics BinaryAUROC on the same maps",
              "anomalib": anomalib.__version__, "torchmetrics": torchmetrics.__version__,
              "machine": {"torch_threads": torch.get_num_threads(), "platform": platform.platform()},
              "env": environment_report("cpu"), "git_commit": git_commit(), "max_abs_diff": worst, "rows": rows}
    print(json.dumps({"max_abs_diff": worst}, indent=1))
    for r in rows:
        print(r["set"], {k: (v["abs_diff"] if isinstance(v, dict) else v) for k, v in r.items() if k != "set"})
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics_crosscheck_anomalib.json").write_text(json.dumps(record, indent=1) + "\n")
        lines = [
            "# Metrics cross-check: adlib vs anomalib",
            "",
            f"adlib `aupro(mode=\"mvtec\")` against anomalib {anomalib.__version__}'s exact `_AUPRO` (OpenCV connected "
            f"components, 8-connectivity) and adlib `pixel_auroc` against torchmetrics {torchmetrics.__version__} "
            f"`BinaryAUROC`, on the same maps. Machine: {torch.get_num_threads()} CPU threads, torch "
            f"{torch.__version__}, commit {record['git_commit']}. Command: `python benchmarks/crosscheck_anomalib.py "
            f"--out docs/results` (in a venv with anomalib; see the script).",
            "",
            f"Largest absolute difference over every set and metric: **{worst:.2e}**.",
            "",
            "| set | AU-PRO@0.05 adlib / anomalib | AU-PRO@0.3 adlib / anomalib | AU-PRO@1 adlib / anomalib "
            "| pixel AUROC adlib / torchmetrics | AU-PRO@0.3 seconds adlib / anomalib (one run) |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            cells = [f"{r[f'aupro@{lim}']['adlib']:.6f} / {r[f'aupro@{lim}']['anomalib']:.6f}" for lim in LIMITS]
            pa = r["pixel_auroc"]
            t = r["aupro@0.3"]
            lines.append(f"| {r['set']} | {' | '.join(cells)} | {pa['adlib']:.6f} / {pa['torchmetrics']:.6f} "
                         f"| {t['adlib_s']:.3f} / {t['anomalib_s']:.3f} |")
        (out / "metrics_crosscheck_anomalib.md").write_text("\n".join(lines) + "\n")
        print(out / "metrics_crosscheck_anomalib.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
