"""Table I on the tray over seeds: EfficientAD vs MHKD (LOCO image AUROC per subset, sPRO@0.05), each seed's paired
bootstrap of MHKD − EfficientAD over the test images, and mean ± std over seeds — the training noise beside the
test-image noise (run from the repo root; ``[runs root]`` optional)."""
import sys
from adlib.reproduce.seed_stats import format_seed_stats, seed_stats
from loco_bootstrap import extractor_teacher, format_gap, loco_values, paired_loco, table4_ablation, tray_runs

NAMES = {"efficientad": "EfficientAD", "mhkd": "MHKD"}
COLUMNS = ["image_auroc_logical", "image_auroc_structural", "image_auroc_mean",
           "spro_0.05_logical", "spro_0.05_structural", "spro_0.05_mean"]
runs = {}
for r in tray_runs(*sys.argv[1:2]):
    c = r["config"]
    if not extractor_teacher(c):
        continue  # the offline-teacher study: pdn_offline.py
    if r["method"] == "mhkd" and table4_ablation(c):
        continue  # Table IV's ablations: table4_intervals.py
    runs[(r["method"], r["seed"])] = r

print("| model | seed | image AUROC logical | structural | mean | sPRO@0.05 logical | structural | mean |")
print("|---|---|---|---|---|---|---|---|")
per = {m: [] for m in NAMES}
for (m, seed), r in sorted(runs.items(), key=lambda kv: (list(NAMES).index(kv[0][0]), kv[0][1])):
    v = loco_values(r); per[m].append(v)
    print(f"| {NAMES[m]} | {seed} | " + " | ".join(f"{v[c]:.1f}" for c in COLUMNS) + " |")
for m, vals in per.items():
    if len(vals) > 1:
        print(f"| {NAMES[m]} | mean ± std | " +
              " | ".join(format_seed_stats(seed_stats([v[c] for v in vals])) for c in COLUMNS) + " |")
print()
print("| seed | MHKD − EfficientAD, LOCO image AUROC mean [95 %] | logical | structural |")
print("|---|---|---|---|")
gaps, spro = [], []
for seed in sorted({s for _, s in runs}):
    a, b = runs.get(("mhkd", seed)), runs.get(("efficientad", seed))
    if a is None or b is None:
        continue
    res = paired_loco(a, b)
    gaps.append(res["mean"]["gap"])
    spro.append(loco_values(a)["spro_0.05_mean"] - loco_values(b)["spro_0.05_mean"])
    print(f"| {seed} | " + " | ".join(format_gap(res[k]) for k in ("mean", "logical", "structural")) + " |")
if len(gaps) > 1:
    g, s = seed_stats(gaps), seed_stats(spro)
    print(f"\nMHKD − EfficientAD over {len(gaps)} seeds: mean image AUROC {g['mean']:+.1f} ± {g['std']:.1f}; "
          f"sPRO@0.05 mean {', '.join(f'{x:+.1f}' for x in spro)} ({s['mean']:+.1f} ± {s['std']:.1f}; no interval: "
          "maps are not kept)")
