"""MTD teacher study: each trained cell of the `teacher` and `offline_best` tables against the training-free kNN on the
same teacher and taps (stages 1-2-3, whole bank, 128 px) — per seed, a paired bootstrap of image AUROC over the test
images (run from the repo root; ``[runs root]`` optional, default the CPU set)."""
import sys

from adlib.metrics import paired_bootstrap_records
from adlib.reproduce import load_config
from adlib.reproduce.grid import expand

root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/fidelity_mtd/runs_cpu"
T = "docs/results/fidelity_mtd/tables/"
knn = {}
for cell in expand(load_config(T + "knn.yaml"), "cpu_full_bank"):
    if cell.run["image_size"] == 128 and cell.setting.get("layers") is None:
        res, _ = cell.read_results(root)
        if res is not None:
            knn[cell.setting["backbone"]] = res
print("| method | teacher | epochs | seed | image AUROC | kNN, same teacher | cell − kNN [95 %] |")
print("|---|---|---|---|---|---|---|")
seen = set()
for table in ("teacher", "offline_best"):
    for cell in expand(load_config(T + f"{table}.yaml"), "cpu"):
        key = (cell.tag, cell.run["seed"])
        res, _ = cell.read_results(root)
        if res is None or key in seen:
            continue
        seen.add(key)
        teacher = cell.config.get("backbone", "efficientnet_lite0")
        k = knn.get(teacher)
        ours = 100 * res["metrics"]["image_auroc"]["value"]
        gap = "–"
        if k is None or "image_scores" not in res.get("extra", {}):
            gap = "– (no per-image scores kept)" if k is not None else "–"
        else:
            c = paired_bootstrap_records(res["extra"]["image_scores"], k["extra"]["image_scores"], n_boot=2000, seed=0)
            gap = f"{100 * (c.a - c.b):+.1f} [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"
        kv = f"{100 * k['metrics']['image_auroc']['value']:.1f}" if k else "–"
        print(f"| {cell.method} | {teacher.replace('efficientnet_', '')} | {cell.run['epochs']} | {cell.run['seed']} | "
              f"{ours:.1f} | {kv} | {gap} |")
