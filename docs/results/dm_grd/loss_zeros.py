"""DM-GRD on MTD: how many of a run's steps had L_OT or L_Con exactly 0, from each results file's loss curve
(``extra.loss_curve``, kept since 2026-11-29 midday; earlier runs have none). One row per run, any table
(run from the repo root; ``[runs root]`` optional)."""
import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results/dm_grd/runs")
print("| mode | run (settings besides the small profile's) | seed | steps | L_OT = 0 | L_Con = 0 | image AUROC |")
print("|---|---|---|---|---|---|---|")
rows = []
for f in sorted(root.glob("**/results.json")):
    r = json.loads(f.read_text())
    curve = (r.get("extra") or {}).get("loss_curve")
    if not curve or not ({"ot", "con"} & set(curve)):
        continue
    cfg = r["config"]
    setting = ", ".join(f"{k} = {cfg[k]}" for k in ("losses", "backbone", "beta", "memory_size")
                        if k in cfg and cfg[k] not in (None, "kd+ot+con+se", "efficientnet_lite0", 30))
    zeros = [str(curve[t]["zero_steps"]) if t in curve else "–" for t in ("ot", "con")]
    steps = next(iter(curve.values()))["steps"]
    rows.append((cfg.get("mode", "code"), setting or "full method", r["seed"], steps, *zeros,
                 f"{100 * r['metrics']['image_auroc']['value']:.1f}"))
for row in sorted(rows, key=lambda x: (x[0], x[1], x[2])):
    print("| " + " | ".join(str(v) for v in row) + " |")
