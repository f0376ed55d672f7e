"""Table I on the tray over seeds: EfficientAD vs MHKD (LOCO image AUROC per subset, sPRO@0.05), each seed's paired
bootstrap of MHKD − EfficientAD over the test images, and mean ± std over seeds — the training noise beside the
test-image noise (run from the repo root; ``[runs root]`` optional)."""
import glob, json, statistics, sys
from adlib.metrics.bootstrap import paired_bootstrap_groups
from loco_bootstrap import extractor_teacher, kind_groups, loco_auroc

root = (sys.argv[1] if len(sys.argv) > 1 else "docs/results/mhkd/runs") + "/mhkd/synthetic/tray"
NAMES = {"efficientad": "EfficientAD", "mhkd": "MHKD"}
runs = {}
for p in glob.glob(f"{root}/*/seed*/results.json"):
    r = json.load(open(p)); c = r["config"]
    if not extractor_teacher(c):
        continue  # the offline-teacher study: pdn_offline.py
    if r["method"] == "mhkd" and (c.get("self_distill", True) is not True or c.get("sencoder2", "two") != "two"):
        continue  # Table IV's ablations: table4_intervals.py
    runs[(r["method"], r["seed"])] = r


def row(r):
    a, sp = r["metrics"]["loco_image_auroc"]["value"], r["metrics"]["spro"]["value"]
    return [100 * a["logical"], 100 * a["structural"], 100 * a["mean"],
            100 * sp["logical"]["0.05"], 100 * sp["structural"]["0.05"], 100 * sp["mean"]["0.05"]]


print("| model | seed | image AUROC logical | structural | mean | sPRO@0.05 logical | structural | mean |")
print("|---|---|---|---|---|---|---|---|")
per = {m: [] for m in NAMES}
for (m, seed), r in sorted(runs.items(), key=lambda kv: (list(NAMES).index(kv[0][0]), kv[0][1])):
    v = row(r); per[m].append(v)
    print(f"| {NAMES[m]} | {seed} | " + " | ".join(f"{x:.1f}" for x in v) + " |")
for m, vals in per.items():
    if len(vals) > 1:
        cols = list(zip(*vals))
        print(f"| {NAMES[m]} | mean ± std ({len(vals)}) | " +
              " | ".join(f"{statistics.fmean(c):.1f} ± {statistics.stdev(c):.1f}" for c in cols) + " |")
print()
print("| seed | MHKD − EfficientAD, LOCO image AUROC mean [95 %] | logical | structural |")
print("|---|---|---|---|")
gaps, spro = [], []
for seed in sorted({s for _, s in runs}):
    a, b = runs.get(("mhkd", seed)), runs.get(("efficientad", seed))
    if a is None or b is None:
        continue
    ids = a["extra"]["image_scores"]["ids"]
    res = paired_bootstrap_groups(loco_auroc(a["extra"]["image_scores"], ids),
                                  loco_auroc(b["extra"]["image_scores"], ids), kind_groups(ids), n_boot=2000, seed=0)
    gaps.append(100 * (res["mean"].a - res["mean"].b))
    spro.append(row(a)[5] - row(b)[5])
    print(f"| {seed} | " + " | ".join(f"{100 * (res[k].a - res[k].b):+.1f} [{100 * res[k].low:+.1f}, {100 * res[k].high:+.1f}]"
                                      for k in ("mean", "logical", "structural")) + " |")
if len(gaps) > 1:
    print(f"\nMHKD − EfficientAD over {len(gaps)} seeds: mean image AUROC {statistics.fmean(gaps):+.1f} ± "
          f"{statistics.stdev(gaps):.1f}; sPRO@0.05 mean {', '.join(f'{g:+.1f}' for g in spro)} "
          f"({statistics.fmean(spro):+.1f} ± {statistics.stdev(spro):.1f}; no interval: maps are not kept)")
