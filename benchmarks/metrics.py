#!/usr/bin/env python
"""Time adlib.metrics on a realistic test set against scikit-learn and a brute-force reference.

    python benchmarks/metrics.py [--n 200] [--size 256] [--device cpu|cuda] [--out docs/results]

The set: N maps of size×size, ~30 % anomalous images with 1–3 rectangular/elliptic defect
regions each; maps = noise + signal on the defects. Writes ``metrics_benchmark_<device>.json``
and ``.md`` with the timings, the machine and the check that all implementations agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def make_set(n: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.float32)
    defects = ["good"] * n
    yy, xx = np.mgrid[:size, :size]
    for i in range(int(0.3 * n)):
        defects[i] = ["scratch", "hole", "stain"][i % 3]
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.integers(0, size, 2)
            ry, rx = rng.integers(2, size // 8, 2)
            masks[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    maps = rng.normal(0, 1, (n, size, size)).astype(np.float32) + 1.5 * masks
    scores = maps.reshape(n, -1).max(1)
    labels = np.array([d != "good" for d in defects], int)
    return maps, masks, scores, labels, defects


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--brute-n", type=int, default=4,
                   help="images for the brute-force AUPRO timing (slow: ~30 s per image on one CPU core)")
    p.add_argument("--no-reference", action="store_true",
                   help="time adlib only (skip scikit-learn and the brute-force reference)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "results"))
    a = p.parse_args(argv)

    from sklearn.metrics import average_precision_score, roc_auc_score

    from adlib.metrics import evaluate
    from metric_reference import aupro_ref

    maps, masks, scores, labels, defects = make_set(a.n, a.size)
    dev = torch.device(a.device)
    tm, tg = torch.from_numpy(maps).to(dev), torch.from_numpy(masks).to(dev)

    def run():
        res = evaluate(tm, torch.from_numpy(scores).to(dev), labels, tg, defects)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return res

    run()  # warm-up (CUDA context, allocator)
    t_adlib, res = timed(run)
    seconds, agreement = {"adlib_evaluate_all_metrics": round(t_adlib, 4)}, {}
    if not a.no_reference:
        t_sk_auroc, sk_auroc = timed(lambda: roc_auc_score(masks.ravel(), maps.ravel()), 1)
        t_sk_ap, sk_ap = timed(lambda: average_precision_score(masks.ravel(), maps.ravel()), 1)
        k = a.brute_n
        small = (np.concatenate([maps[:k // 2], maps[-k // 2:]]),
                 np.concatenate([masks[:k // 2], masks[-k // 2:]]))
        t_brute, brute = timed(lambda: aupro_ref(small[0], small[1]), 1)
        from adlib.metrics import aupro

        t_small, ours_small = timed(lambda: aupro(small[0], small[1]).value, 1)
        seconds.update({"sklearn_pixel_auroc_only": round(t_sk_auroc, 4), "sklearn_pixel_ap_only": round(t_sk_ap, 4),
                        f"bruteforce_aupro_{k}_images": round(t_brute, 4), f"adlib_aupro_{k}_images": round(t_small, 4)})
        agreement = {"pixel_auroc_abs_diff_vs_sklearn": abs(res["pixel_auroc"].value - sk_auroc),
                     "pixel_ap_abs_diff_vs_sklearn": abs(res["pixel_ap"].value - sk_ap),
                     f"aupro_abs_diff_vs_bruteforce_{k}_images": abs(ours_small - brute)}
    record = {
        "benchmark": "adlib.metrics.evaluate: all metrics (image AUROC/F1, pixel AUROC/AP/F1, AUPRO mvtec) "
                     "with per-defect breakdown",
        "data": {"images": a.n, "size": a.size, "anomalous_fraction": float(labels.mean()),
                 "generator": "benchmarks/metrics.py make_set(seed=0): gaussian noise + 1.5 on elliptic defects"},
        "device": str(dev), "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
        "seconds": seconds,
        "agreement": agreement,
        "values": {k2: v.value for k2, v in res.items()},
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "gpu" if dev.type == "cuda" else "cpu"
    (out / f"metrics_benchmark_{tag}.json").write_text(json.dumps(record, indent=1))
    rows = "\n".join(f"| {name} | {sec:.3f} |" for name, sec in record["seconds"].items())
    agree = "\n".join(f"| {name} | {val:.2e} |" for name, val in record["agreement"].items())
    (out / f"metrics_benchmark_{tag}.md").write_text(
        f"# Metrics benchmark ({tag})\n\nMachine: {record['cpu_count']} CPU cores, torch {record['torch']} "
        f"({record['torch_threads']} threads), device `{record['device']}`"
        + (f" ({record['gpu']})" if record["gpu"] else "")
        + f".\nData: {a.n} maps of {a.size}×{a.size}, {record['data']['anomalous_fraction']:.0%} anomalous "
        "(synthetic, `benchmarks/metrics.py`). Best of 3 runs for adlib, one run for the references.\n\n"
        f"| what | seconds |\n|---|---|\n{rows}\n\n| agreement | abs. difference |\n|---|---|\n{agree}\n")
    print(json.dumps(record["seconds"], indent=1))
    print(json.dumps(record["agreement"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
