"""DM-GRD on MTD: how many of a run's steps had L_OT or L_Con exactly 0, from each results file's loss curve
(``extra.loss_curve``, kept since 2026-11-29 midday; earlier runs have none). One row per run, any table; a run is
named by its cell folder less the `small` profile's settings, so any other difference shows (run from the repo
root; ``[runs root]`` optional)."""
import json
import re
import sys
from pathlib import Path

from cells import RUNS, small_settings

root = Path(sys.argv[1] if len(sys.argv) > 1 else RUNS)
SMALL = small_settings()  # the small profile's full-method folder parts (teacher, size, schedule...) and mode=paper


def numeric(text):
    """Sort key: numbers inside a setting compare as numbers (L = 5 before L = 100)."""
    return [float(t) if re.fullmatch(r"[0-9.]+", t) else t for t in re.split(r"([0-9.]+)", text)]


rows = []
for f in sorted(root.glob("**/results.json")):
    r = json.loads(f.read_text())
    curve = (r.get("extra") or {}).get("loss_curve")
    if not curve or not ({"ot", "con"} & set(curve)):
        continue
    parts = f.parent.parent.name.split("__")[1:]  # the cell folder: <method>__<key=value>__...
    setting = ", ".join(p.replace("=", " = ") for p in parts if p not in SMALL) or "full method"
    zeros = [str(curve[t]["zero_steps"]) if t in curve else "–" for t in ("ot", "con")]
    steps = next(iter(curve.values()))["steps"]
    rows.append((r["config"].get("mode", "code"), setting, r["seed"], steps, *zeros,
                 f"{100 * r['metrics']['image_auroc']['value']:.1f}"))
print("| mode | run (settings besides the small profile's) | seed | steps | L_OT = 0 | L_Con = 0 | image AUROC |")
print("|---|---|---|---|---|---|---|")
for row in sorted(rows, key=lambda x: (x[0], numeric(x[1]), x[2])):
    print("| " + " | ".join(str(v) for v in row) + " |")
