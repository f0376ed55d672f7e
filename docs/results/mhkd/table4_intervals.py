"""Table IV intervals: paired bootstrap of the mean LOCO image AUROC between the four ablation cells (run from the repo root)."""
import json, glob, numpy as np
from sklearn.metrics import roc_auc_score
from adlib.metrics.bootstrap import paired_bootstrap_groups
base = "docs/results/mhkd/runs/mhkd/synthetic/tray"
cells = {}
for p in glob.glob(f"{base}/mhkd__*/seed0/results.json"):
    r = json.load(open(p)); c = r["config"]
    cells[(c.get("self_distill", True), c.get("sencoder2", "two"))] = r["extra"]["image_scores"]
ids = cells[(True, "two")]["ids"]
kind = np.array([("logical" if "logical" in i else "structural" if "structural" in i else "good") for i in ids])
groups = {k: np.where(kind == k)[0] for k in ("good", "logical", "structural")}
def stat(sc):
    s = np.asarray(sc["scores"]); assert sc["ids"] == ids
    def f(g):
        out = {}
        for k in ("logical", "structural"):
            idx = np.concatenate([g["good"], g[k]]); y = np.r_[np.zeros(len(g["good"])), np.ones(len(g[k]))]
            out[k] = roc_auc_score(y, s[idx])
        out["mean"] = (out["logical"] + out["structural"]) / 2
        return out
    return f
print({k: len(v) for k, v in groups.items()})
for a, b, what in [((True, "two"), (False, "two"), "self-distillation, two-conv SEncoder2"),
                   ((True, "single"), (False, "single"), "self-distillation, single-conv SEncoder2"),
                   ((True, "two"), (True, "single"), "SEncoder2 two vs single, with SD"),
                   ((False, "two"), (False, "single"), "SEncoder2 two vs single, without SD"),
                   ((True, "two"), (False, "single"), "full vs neither")]:
    res = paired_bootstrap_groups(stat(cells[a]), stat(cells[b]), groups, n_boot=2000, seed=0)
    m = res["mean"]
    print(f"| {what} | {100*m.a:.1f} vs {100*m.b:.1f} | {100*(m.a-m.b):+.1f} [{100*m.low:+.1f}, {100*m.high:+.1f}] |")
