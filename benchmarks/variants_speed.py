#!/usr/bin/env python
"""Evaluation variants of one trained model: one pass over the test set vs one evaluation per variant.

    OMP_NUM_THREADS=1 python benchmarks/variants_speed.py [--method mrkd] [--size 64] [--repeats 3]

Builds the method with EfficientNet-Lite0 (random weights: the time does not depend on training),
opens the synthetic ``weave`` test split (decoded once, before timing) and times
``evaluate_method(..., variants=model.evaluation_variants())`` (main + variants in one pass) against
the old way: ``evaluate_method`` for the main model, then once per variant under ``override_config``.
Prints the median of ``--repeats`` runs of each and checks that their metrics are equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adlib.data.catalog import open_dataset  # noqa: E402
from adlib.engine import evaluate_method  # noqa: E402
from adlib.methods import build  # noqa: E402


def per_variant(model, test, variants, kw) -> dict:
    out = {None: evaluate_method(model, test, **kw).summary()}
    for name, overrides in variants.items():
        with model.override_config(**overrides):
            out[name] = evaluate_method(model, test, **kw).summary()
    return out


def one_pass(model, test, variants, kw) -> dict:
    ev = evaluate_method(model, test, variants=variants, **kw)
    return {None: ev.summary(), **{n: r.summary() for n, r in ev.variants.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="mrkd")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build(args.method, backbone="efficientnet_lite0", weights="random")
    test = open_dataset("synthetic", "weave", "test", image_size=args.size, normalize=model.input_spec, cache=True)
    test.preload(progress=False)
    variants = model.evaluation_variants()
    kw = {"batch_size": 16, "device": "cpu", "progress": False}
    times = {"per_variant": [], "one_pass": []}
    results = {}
    for _ in range(args.repeats):
        for name, fn in (("per_variant", per_variant), ("one_pass", one_pass)):
            t0 = time.perf_counter()
            results[name] = fn(model, test, variants, kw)
            times[name].append(time.perf_counter() - t0)
    assert results["per_variant"] == results["one_pass"], "the two ways disagree"
    old, new = statistics.median(times["per_variant"]), statistics.median(times["one_pass"])
    print(f"{args.method}, {len(test)} test images at {args.size} px, main + {len(variants)} variants, "
          f"{torch.get_num_threads()} thread(s), median of {args.repeats}:")
    print(f"  one evaluation per variant: {old:.2f} s  ({', '.join(f'{t:.2f}' for t in times['per_variant'])})")
    print(f"  one pass:                   {new:.2f} s  ({', '.join(f'{t:.2f}' for t in times['one_pass'])})")
    print(f"  speedup x{old / new:.2f}; metrics identical")


if __name__ == "__main__":
    main()
