"""Table IV over seeds: each ablation cell's mean LOCO image AUROC and sPRO@0.05 (mean ± std over seeds), and per
seed the paired bootstrap between cells over the test images (run from the repo root; ``[runs root]`` optional)."""
import glob, json, statistics, sys
from adlib.metrics.bootstrap import paired_bootstrap_groups
from loco_bootstrap import extractor_teacher, kind_groups, loco_auroc

base = (sys.argv[1] if len(sys.argv) > 1 else "docs/results/mhkd/runs") + "/mhkd/synthetic/tray"
CELLS = [(False, "single"), (True, "single"), (False, "two"), (True, "two")]
runs = {}  # (self_distill, sencoder2) -> {seed: results}
for p in glob.glob(f"{base}/mhkd__*/seed*/results.json"):
    r = json.load(open(p)); c = r["config"]
    if extractor_teacher(c):
        runs.setdefault((c.get("self_distill", True), c.get("sencoder2", "two")), {})[r["seed"]] = r


def values(r):
    a, sp = r["metrics"]["loco_image_auroc"]["value"], r["metrics"]["spro"]["value"]
    return [100 * a["mean"], 100 * a["logical"], 100 * a["structural"],
            100 * sp["mean"]["0.05"], 100 * sp["logical"]["0.05"], 100 * sp["structural"]["0.05"]]


def fmt(vals):
    return (f"{statistics.fmean(vals):.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{vals[0]:.1f}")


print("| self-distillation | SEncoder2 | seeds | mean LOCO image AUROC | logical | structural | sPRO@0.05 mean | logical | "
      "structural |")
print("|---|---|---|---|---|---|---|---|---|")
for cell in CELLS:
    seeds = sorted(runs.get(cell, {}))
    if seeds:
        cols = list(zip(*(values(runs[cell][s]) for s in seeds)))
        print(f"| {'yes' if cell[0] else 'no'} | {cell[1]} | {', '.join(map(str, seeds))} | "
              + " | ".join(fmt(list(c)) for c in cols) + " |")
PAIRS = [((True, "two"), (False, "two"), "self-distillation, two-conv SEncoder2"),
         ((True, "single"), (False, "single"), "self-distillation, single-conv SEncoder2"),
         ((True, "two"), (True, "single"), "SEncoder2 two vs single, with self-distillation"),
         ((False, "two"), (False, "single"), "SEncoder2 two vs single, without"),
         ((True, "two"), (False, "single"), "full MHKD vs neither")]
seeds = sorted(set.intersection(*(set(runs.get(c, {})) for c in CELLS))) if all(c in runs for c in CELLS) else []
print("\n| effect | seed | A vs B | A − B [95 %] |")
print("|---|---|---|---|")
gaps = {what: [] for _, _, what in PAIRS}
for a, b, what in PAIRS:
    for seed in seeds:
        ra, rb = runs[a][seed]["extra"]["image_scores"], runs[b][seed]["extra"]["image_scores"]
        ids = ra["ids"]
        res = paired_bootstrap_groups(loco_auroc(ra, ids), loco_auroc(rb, ids), kind_groups(ids), n_boot=2000, seed=0)
        m = res["mean"]
        gaps[what].append(100 * (m.a - m.b))
        print(f"| {what} | {seed} | {100 * m.a:.1f} vs {100 * m.b:.1f} | {100 * (m.a - m.b):+.1f} "
              f"[{100 * m.low:+.1f}, {100 * m.high:+.1f}] |")
if len(seeds) > 1:
    print(f"\nOver seeds {', '.join(map(str, seeds))}, A − B in mean LOCO image AUROC (mean ± std of the per-seed gaps; "
          "sPRO: the cell table):")
    for what, g in gaps.items():
        print(f"- {what}: {statistics.fmean(g):+.1f} ± {statistics.stdev(g):.1f} ({', '.join(f'{x:+.1f}' for x in g)})")
