"""DAF vs the segmentation-only network on MTD's real defects: paired bootstrap of image AUROC per strategy and
seed (run from the repo root; ``[runs root]`` optional)."""
import glob, json, sys
from adlib.metrics import paired_bootstrap_records
base = (sys.argv[1] if len(sys.argv) > 1 else "docs/results/daf/runs") + "/daf/mtd/mtd"
runs = {}
for p in glob.glob(f"{base}/*/seed*/results.json"):
    r = json.load(open(p)); c = r["config"]
    if c.get("seg_discrepancy_input", True):
        runs[(c.get("ablation", "none"), c.get("synthesis", "dra"), r["seed"])] = r["extra"]["image_scores"]
print("| trained on | seed | DAF | segmentation-only | DAF − seg-only [95 %] |")
print("|---|---|---|---|---|")
for s in ("dra", "nsa_b", "simple_texture", "simple_shape", "simple_texture_shape"):
    for seed in sorted({k[2] for k in runs if k[1] == s}):
        a, b = runs.get(("none", s, seed)), runs.get(("seg_only", s, seed))
        if a is None or b is None:
            continue
        c = paired_bootstrap_records(a, b, n_boot=2000, seed=0)
        print(f"| {s} | {seed} | {100*c.a:.1f} | {100*c.b:.1f} | {100*(c.a-c.b):+.1f} [{100*c.low:+.1f}, {100*c.high:+.1f}] |")
