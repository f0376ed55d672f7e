"""Table IV over seeds: each ablation cell's mean LOCO image AUROC and sPRO@0.05 (mean ± std over seeds), and per
seed the paired bootstrap between cells over the test images (run from the repo root; ``[runs root]`` optional)."""
import sys
from adlib.reproduce.seed_stats import format_seed_stats, seed_stats
from loco_bootstrap import extractor_teacher, format_gap, loco_values, paired_loco, tray_runs

CELLS = [(False, "single"), (True, "single"), (False, "two"), (True, "two")]
COLUMNS = ["image_auroc_mean", "image_auroc_logical", "image_auroc_structural",
           "spro_0.05_mean", "spro_0.05_logical", "spro_0.05_structural"]
runs = {}  # (self_distill, sencoder2) -> {seed: results}
for r in tray_runs(*sys.argv[1:2], pattern="mhkd__*"):
    c = r["config"]
    if extractor_teacher(c):
        runs.setdefault((c.get("self_distill", True), c.get("sencoder2", "two")), {})[r["seed"]] = r

print("| self-distillation | SEncoder2 | seeds | mean LOCO image AUROC | logical | structural | sPRO@0.05 mean | logical | "
      "structural |")
print("|---|---|---|---|---|---|---|---|---|")
for cell in CELLS:
    seeds = sorted(runs.get(cell, {}))
    if seeds:
        vals = [loco_values(runs[cell][s]) for s in seeds]
        print(f"| {'yes' if cell[0] else 'no'} | {cell[1]} | {', '.join(map(str, seeds))} | "
              + " | ".join(format_seed_stats(seed_stats([v[c] for v in vals])) for c in COLUMNS) + " |")
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
        m = paired_loco(runs[a][seed], runs[b][seed])["mean"]
        gaps[what].append(m["gap"])
        print(f"| {what} | {seed} | {m['a']:.1f} vs {m['b']:.1f} | {format_gap(m)} |")
if len(seeds) > 1:
    print(f"\nOver seeds {', '.join(map(str, seeds))}, A − B in mean LOCO image AUROC (mean ± std of the per-seed gaps; "
          "sPRO: the cell table):")
    for what, g in gaps.items():
        s = seed_stats(g)
        print(f"- {what}: {s['mean']:+.1f} ± {s['std']:.1f} ({', '.join(f'{x:+.1f}' for x in g)})")
