"""The table of DAF's MTD runs in README.md: one row per trained model (run from the repo root).

    python docs/results/daf/daf_table.py [docs/results/daf/runs]
"""
import sys
from daf_runs import load_runs

NAMES = {"none": "DAF", "seg_only": "segmentation-only", "ts_only": "T-S only", "no_aux": "DAF without aux heads"}


def pct(d, k):
    v = d.get(k)
    v = v["value"] if isinstance(v, dict) else v
    return float("nan") if v is None else 100 * v


rows = []
for run in load_runs(*sys.argv[1:2]):
    r = run.record
    m, ex = r["metrics"], r.get("extra", {})
    v, mech = ex.get("variants", {}), ex.get("mechanics") or {}
    ms = lambda k: f"{100 * mech[k]:.1f}" if k in mech else "–"
    var = lambda n: (f"{pct(v[n].get('metrics', v[n]), 'image_auroc'):.1f} / {pct(v[n].get('metrics', v[n]), 'pixel_auroc'):.1f}"
                     if n in v else "–")
    name = NAMES.get(run.ablation, run.ablation)
    if not run.disc_input and run.ablation in ("none", "no_aux"):
        name += ", M̄ not fed to the head (Table VII)"
    rows.append((run.synthesis, name, run.seed, pct(m, "image_auroc"), pct(m, "pixel_auroc"),
                 pct(m, "pixel_ap"), pct(m, "aupro"), var("discrepancy"), var("segmentation"),
                 ms("segmentation_pixel_auroc"), ms("discrepancy_pixel_auroc"), r["timings"]["train_s"], run.epochs))
print("| model | trained on | epochs | seed | image AUROC | pixel AUROC | pixel AP | AU-PRO | M̄ only (img / px) | "
      "M_S only (img / px) | mechanics M_S | mechanics M̄ | train s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
order = ["dra", "nsa_b", "simple_texture", "simple_shape", "simple_texture_shape"]
for r in sorted(rows, key=lambda r: (order.index(r[0]) if r[0] in order else 9, r[12], r[1] != "DAF", r[1], r[2])):
    print(f"| {r[1]} | {r[0]} | {r[12]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]} | {r[8]} | "
          f"{r[9]} | {r[10]} | {r[11]:.0f} |")
