"""DAF on MTD (DRA): each ablation of Tables V and VII against full DAF of the same seed and schedule — paired
bootstrap of image AUROC over the test images (run from the repo root; ``[runs root]`` optional). Test-image noise
only: two seeds of one setting show the training noise beside it."""
import sys
from adlib.metrics import paired_bootstrap_records
from daf_runs import load_runs

runs = {}
for r in load_runs(*sys.argv[1:2]):
    if r.synthesis == "dra":
        runs[(r.ablation + ("" if r.disc_input else "+no_disc_input"), r.seed, r.epochs)] = r.record
LABEL = {"ts_only": "T-S only (V)", "seg_only": "segmentation-only (V)", "no_aux": "without aux heads (V)",
         "none+no_disc_input": "M̄ not fed to the head (VII)", "none": "DAF"}
print("| setting | epochs | seed | image AUROC | DAF, same seed | setting − DAF [95 %] |")
print("|---|---|---|---|---|---|")
for (name, seed, ep), r in sorted(runs.items(), key=lambda kv: (kv[0][2], list(LABEL).index(kv[0][0])
                                                                 if kv[0][0] in LABEL else 9, kv[0][1])):
    daf = runs.get(("none", seed, ep))
    a = 100 * r["metrics"]["image_auroc"]["value"]
    if name == "none" or daf is None:
        print(f"| {LABEL.get(name, name)} | {ep} | {seed} | {a:.1f} | – | – |")
        continue
    c = paired_bootstrap_records(r["extra"]["image_scores"], daf["extra"]["image_scores"], n_boot=2000, seed=0)
    print(f"| {LABEL.get(name, name)} | {ep} | {seed} | {a:.1f} | {100 * c.b:.1f} | {100 * (c.a - c.b):+.1f} "
          f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}] |")

# a longer schedule against the 16-epoch run of the same setting and seed
longer = [(k, r) for k, r in sorted(runs.items()) if k[2] != 16 and (k[0], k[1], 16) in runs]
if longer:
    print("\n| setting | seed | 16 epochs | longer (epochs) | longer − 16 [95 %] |")
    print("|---|---|---|---|---|")
    for (name, seed, ep), r in longer:
        c = paired_bootstrap_records(r["extra"]["image_scores"], runs[(name, seed, 16)]["extra"]["image_scores"],
                                     n_boot=2000, seed=0)
        print(f"| {LABEL.get(name, name)} | {seed} | {100 * c.b:.1f} | {100 * c.a:.1f} ({ep}) | {100 * (c.a - c.b):+.1f} "
              f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}] |")
