"""Table IV intervals: paired bootstrap of the mean LOCO image AUROC between the four ablation cells, seed 0
(run from the repo root)."""
import glob, json
from adlib.metrics.bootstrap import paired_bootstrap_groups
from loco_bootstrap import kind_groups, loco_auroc
base = "docs/results/mhkd/runs/mhkd/synthetic/tray"
cells = {}
for p in glob.glob(f"{base}/mhkd__*/seed0/results.json"):
    r = json.load(open(p)); c = r["config"]
    cells[(c.get("self_distill", True), c.get("sencoder2", "two"))] = r["extra"]["image_scores"]
ids = cells[(True, "two")]["ids"]
groups = kind_groups(ids)
print({k: len(v) for k, v in groups.items()})
for a, b, what in [((True, "two"), (False, "two"), "self-distillation, two-conv SEncoder2"),
                   ((True, "single"), (False, "single"), "self-distillation, single-conv SEncoder2"),
                   ((True, "two"), (True, "single"), "SEncoder2 two vs single, with SD"),
                   ((False, "two"), (False, "single"), "SEncoder2 two vs single, without SD"),
                   ((True, "two"), (False, "single"), "full vs neither")]:
    res = paired_bootstrap_groups(loco_auroc(cells[a], ids), loco_auroc(cells[b], ids), groups, n_boot=2000, seed=0)
    m = res["mean"]
    print(f"| {what} | {100*m.a:.1f} vs {100*m.b:.1f} | {100*(m.a-m.b):+.1f} [{100*m.low:+.1f}, {100*m.high:+.1f}] |")
