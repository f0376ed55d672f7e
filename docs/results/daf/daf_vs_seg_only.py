"""DAF vs the segmentation-only network on MTD's real defects: paired bootstrap of image AUROC per strategy (run from the repo root)."""
import glob, json
from adlib.metrics import paired_bootstrap_records
base = "docs/results/daf/runs/daf/mtd/mtd"
def load(ablation, synthesis):
    for p in glob.glob(f"{base}/*/seed0/results.json"):
        r = json.load(open(p)); c = r["config"]
        if c.get("ablation", "none") == ablation and c.get("synthesis", "dra") == synthesis and c.get("seg_discrepancy_input", True):
            return r["extra"]["image_scores"]
print("| trained on | DAF | segmentation-only | DAF − seg-only [95 %] |")
print("|---|---|---|---|")
for s in ("dra", "nsa_b", "simple_texture", "simple_shape", "simple_texture_shape"):
    a, b = load("none", s), load("seg_only", s)
    if a is None or b is None:
        continue
    c = paired_bootstrap_records(a, b, n_boot=2000, seed=0)
    print(f"| {s} | {100*c.a:.1f} | {100*c.b:.1f} | {100*(c.a-c.b):+.1f} [{100*c.low:+.1f}, {100*c.high:+.1f}] |")
