"""DM-GRD paper vs code mode on MTD: paired bootstrap of image AUROC over the test images (run from the repo root)."""
import glob, json, numpy as np
from adlib.metrics.bootstrap import paired_bootstrap
rs = {json.load(open(p))["config"]["mode"]: json.load(open(p)) for p in glob.glob("docs/results/dm_grd/runs/**/results.json", recursive=True)}
a, b = rs["paper"]["extra"]["image_scores"], rs["code"]["extra"]["image_scores"]
assert a["ids"] == b["ids"]
c = paired_bootstrap({"scores": np.asarray(a["scores"])}, {"scores": np.asarray(b["scores"])}, np.asarray(a["labels"]), n_boot=2000, seed=0)
print(f"paper − code image AUROC: {100*c.a:.1f} − {100*c.b:.1f} = {100*(c.a-c.b):+.1f} [{100*c.low:+.1f}, {100*c.high:+.1f}]")
