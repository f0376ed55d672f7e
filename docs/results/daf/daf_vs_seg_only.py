"""DAF vs the segmentation-only network on MTD's real defects: paired bootstrap of image AUROC per strategy, schedule
and seed (run from the repo root; ``[runs root]`` optional)."""
import sys
from adlib.metrics import paired_bootstrap_records
from daf_runs import load_runs

runs = {(r.ablation, r.synthesis, r.seed, r.epochs): r.record["extra"]["image_scores"]
        for r in load_runs(*sys.argv[1:2]) if r.disc_input}
print("| trained on | epochs | seed | DAF | segmentation-only | DAF − seg-only [95 %] |")
print("|---|---|---|---|---|---|")
for s in ("dra", "nsa_b", "simple_texture", "simple_shape", "simple_texture_shape"):
    for ep, seed in sorted({(k[3], k[2]) for k in runs if k[1] == s}):
        a, b = runs.get(("none", s, seed, ep)), runs.get(("seg_only", s, seed, ep))
        if a is None or b is None:
            continue
        c = paired_bootstrap_records(a, b, n_boot=2000, seed=0)
        print(f"| {s} | {ep} | {seed} | {100*c.a:.1f} | {100*c.b:.1f} | {100*(c.a-c.b):+.1f} "
              f"[{100*c.low:+.1f}, {100*c.high:+.1f}] |")
