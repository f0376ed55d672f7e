"""DM-GRD on MTD, Table 6 (the training objectives): one row per run in both modes — metrics, each loss term's final
value (unweighted, as the run's history ends) and the training time — then mean ± std over seeds of every objective
run more than once (run from the repo root; ``[runs root]`` optional). The README's Table 6 is this script's output."""
import statistics
import sys

from cells import RUNS, pct, read_cells

root = sys.argv[1] if len(sys.argv) > 1 else RUNS
ORDER = ["kd", "kd+ot", "kd+con", "kd+se", "kd+ot+con", "kd+ot+con+se"]
METRICS = ("image_auroc", "pixel_auroc", "pixel_ap", "aupro")
TERMS = ("kd", "ot", "con", "se")


def loss(v):
    """A final loss value: 0 when exactly 0, scientific below 1e-3 (L_OT as coded is a rounding residue), else 2–3 decimals."""
    if v is None:
        return "–"
    if v == 0:
        return "0"
    text = f"{v:.1e}" if abs(v) < 1e-3 else (f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}")
    return text.replace("-", "−")


runs = [(mode, cell.setting["losses"], cell.run["seed"], r) for mode, cell, r in read_cells("6", root)]
runs.sort(key=lambda x: (x[0], ORDER.index(x[1]), x[2]))

print("| mode | objective | seed | image AUROC | pixel AUROC | pixel AP | AU-PRO | final L_KD | L_OT | L_Con | L_SE | train s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for mode, objective, seed, r in runs:
    final = r["extra"].get("loss_final") or {}
    name = "full (kd+ot+con+se)" if objective == "kd+ot+con+se" else objective
    print(f"| {mode} | {name} | {seed} | " + " | ".join(pct(r, k) for k in METRICS) + " | "
          + " | ".join(loss(final.get(t)) for t in TERMS) + f" | {r['timings']['train_s']:.0f} |")
print()
for mode in ("code", "paper"):
    for objective in ORDER:
        vals = [100 * r["metrics"]["image_auroc"]["value"] for m, o, _, r in runs if (m, o) == (mode, objective)]
        if len(vals) > 1:
            print(f"- {mode} mode, {objective}: image AUROC {' / '.join(f'{v:.1f}' for v in vals)} "
                  f"({statistics.fmean(vals):.1f} ± {statistics.stdev(vals):.1f}, {len(vals)} seeds)")
