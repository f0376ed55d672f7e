"""The offline teacher (issue 19 point 3; spec §3.3): the CPU-distilled PDN-S — its recipe, and its fidelity to the
Lite0 PatchCore target on held-out pool crops and on tray / MTD training normals — and MHKD on the tray with it as
teacher, beside a random-init PDN-S (the floor) and Lite0 itself (Table I's MHKD cell), per seed, with paired
bootstrap intervals over the test images. Run from the repo root: ``python docs/results/mhkd/pdn_offline.py [runs
root]``; writes ``pdn_offline.{json,md}`` beside this script. The distilled file is read from the PDN cache, else from
the copy kept in ``pdn_offline/<recipe key>/`` (also a cache: ``ADLIB_PDN_CACHE=docs/results/mhkd/pdn_offline``
lets ``mhkd/teacher`` use it on a machine that has not distilled it)."""
import json, sys
from pathlib import Path

import torch

from adlib.backbones.weights import WeightsUnavailableError
from adlib.data.catalog import open_dataset
from adlib.reproduce.seed_stats import format_seed_stats, seed_stats
from adlib.teachers.distill import fidelity_on_images, find_distilled, load_distilled
from loco_bootstrap import extractor_teacher, loco_values, paired_loco, table4_ablation, tray_runs

HERE = Path(__file__).parent
LABELS = {"random": "random-init PDN-S (floor)", "distilled": "offline PDN-S (distilled here, CPU)",
          "extractor": "Lite0 itself (extractor as teacher)"}
runs = {}  # kind -> {seed: results}
for r in tray_runs(*sys.argv[1:2], pattern="mhkd__*"):
    c = r["config"]
    if table4_ablation(c):
        continue  # Table IV's ablations
    kind = "extractor" if extractor_teacher(c) else str(c.get("weights")).split(":")[0]
    if kind in LABELS:
        runs.setdefault(kind, {})[r["seed"]] = r
runs = {k: runs[k] for k in LABELS if k in runs}  # the table's order
if "distilled" not in runs:
    sys.exit("no MHKD tray run with a distilled teacher yet (adlib/configs/mhkd/teacher.yaml)")
keys = {r["weights"]["recipe_key"] for r in runs["distilled"].values()}
if len(keys) != 1:
    sys.exit(f"the distilled runs used {len(keys)} different teachers: {sorted(keys)}")
key = keys.pop()
try:
    path = find_distilled("small", key)
except WeightsUnavailableError:  # a fresh machine: the copy kept beside this script (cache layout, 5.4 MB)
    path = find_distilled("small", key, cache_dir=HERE / "pdn_offline")
_, rec = load_distilled(path)
assert all(r["weights"]["sha256"] == rec["sha256"] for r in runs["distilled"].values()), "cached file ≠ the runs' file"


def normals(dataset, category, image_size=128, batch=8):
    ds = open_dataset(dataset, category, "train", image_size=image_size, normalize=None)
    for i in range(0, len(ds), batch):
        yield torch.stack([ds[j]["image"] for j in range(i, min(i + batch, len(ds)))])


before = json.loads((HERE / "pdn_offline.json").read_text()) if (HERE / "pdn_offline.json").is_file() else {}
if before.get("distilled_teacher", {}).get("sha256") == rec["sha256"]:
    fid = before["fidelity"]  # the same file: its fidelity was measured (minutes on the CPU) when this last ran
else:
    fid = {"held-out pool crops": rec["fidelity_held_out"],
           "tray train normals (128 px)": fidelity_on_images(path, normals("synthetic", "tray")),
           "MTD train normals (128 px)": fidelity_on_images(path, normals("mtd", "mtd"))}


cells = {k: {s: loco_values(r) for s, r in sorted(v.items())} for k, v in runs.items()}
summary = {}  # kind -> metric -> seed_stats
for k, by_seed in cells.items():
    metrics = next(iter(by_seed.values()))
    summary[k] = {m: seed_stats([v[m] for v in by_seed.values()]) for m in metrics}
gaps = []
for a, b in (("distilled", "random"), ("distilled", "extractor"), ("extractor", "random")):
    for seed in sorted(set(runs.get(a, {})) & set(runs.get(b, {}))):
        res = paired_loco(runs[a][seed], runs[b][seed])
        gaps.append({"a": a, "b": b, "seed": seed,
                     **{k: [res[k]["gap"], res[k]["low"], res[k]["high"]] for k in ("mean", "logical", "structural")}})
recipe = {k: rec[k] for k in ("key", "file", "sha256", "padding", "device", "torch", "train_s", "loss_first", "loss_final",
                              "patch_values_repeated", "dead_leaves_version", "photo_fraction")}
recipe.update(recipe=rec["recipe"], extractor=rec["extractor"], pool_files=len(rec["pool"]),
              pool_packages=sorted({p["package"] for p in rec["pool"]}))
out = {"what": "MHKD on the synthetic LOCO tray (mhkd/teacher, profile small) with three teachers; the offline PDN-S "
               "distilled on this CPU (adlib.teachers.distill)", "distilled_teacher": recipe, "fidelity": fid,
       "runs": {k: {str(s): v for s, v in c.items()} for k, c in cells.items()}, "summary": summary,
       "paired_image_auroc": gaps,
       "run_env": {k: sorted({r["env"].get("cpu_model") or "?" for r in v.values()}) for k, v in runs.items()},
       "git_commits": sorted({r.get("git_commit") or "?" for v in runs.values() for r in v.values()})}
(HERE / "pdn_offline.json").write_text(json.dumps(out, indent=1) + "\n")


r = rec["recipe"]
lines = ["# The offline PDN-S teacher on the CPU (issue 19 point 3) — generated by `pdn_offline.py`", "",
         f"Distilled: PDN-{r['size'][0].upper()} (padded), {r['steps']} steps of batch {r['batch_size']} at "
         f"{r['image_size']} px ({r['steps'] * r['batch_size']} image-steps; the papers: 60 000 × 16 at 256 px), target "
         f"{rec['extractor']['name']} ({rec['extractor']['source']}) stages 2–3 at {2 * r['image_size']} px, statistics "
         f"over {r['stat_images']} views, pool: {len(rec['pool'])} packaged photos + {r['dead_leaves_images']} dead-leaves "
         f"images; {rec['device']}, {rec['train_s']:.0f} s. Recipe key `{rec['key']}`, file `{rec['file']}` "
         f"(sha256 `{rec['sha256'][:16]}…`). Loss {rec['loss_first']:.3f} → {rec['loss_final']:.3f} (last 50 steps).", "",
         "| fidelity to the normalised target | images | normalised MSE | explained (1 − MSE/Var) |", "|---|---|---|---|"]
for name, f in fid.items():
    lines.append(f"| {name} | {f['values'] // (r['out_channels'] * (r['image_size'] // 4) ** 2)} | {f['mse']:.3f} | "
                 f"{f['explained']:.3f} |")
lines += ["", "| teacher | mean LOCO image AUROC | logical | structural | sPRO@0.05 mean | logical | structural |",
          "|---|---|---|---|---|---|---|"]
for k in summary:  # LABELS' order
    lines.append(f"| {LABELS[k]} | " + " | ".join(format_seed_stats(summary[k][m]) for m in summary[k]) + " |")
lines += ["", "MHKD cells: `mhkd/teacher` (random, distilled) and `mhkd/table1` (Lite0) at `small` (tray, 128 px, 300 steps of "
          "batch 8, student PDN-M at width 0.25), one torch thread; CPUs: " + "; ".join(
              f"{k}: {', '.join(v)}" for k, v in out["run_env"].items()) + "."]
lines += ["", "| A − B | seed | mean LOCO image AUROC [95 %] | logical | structural |", "|---|---|---|---|---|"]
for g in gaps:
    lines.append(f"| {g['a']} − {g['b']} | {g['seed']} | " + " | ".join(
        f"{g[k][0]:+.1f} [{g[k][1]:+.1f}, {g[k][2]:+.1f}]" for k in ("mean", "logical", "structural")) + " |")
(HERE / "pdn_offline.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
