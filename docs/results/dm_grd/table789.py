"""DM-GRD on MTD, Tables 7 (teacher backbone), 8 (fixed synthesis opacity β) and 9 (memory items L): each measured
cell against the full method of the same mode and seed (Lite0, random β, L = 30) — paired bootstrap of image AUROC
over the test images — and the
full method's seeds beside them, which show the training noise a single cell carries; then each cell's seeds, mean
± std, and the full method's mean over the same seeds (run from the repo root; ``[runs root]`` optional)."""
import statistics
import sys

from adlib.metrics import paired_bootstrap_records
from cells import MODES, RUNS, pct, read_cells

root = sys.argv[1] if len(sys.argv) > 1 else RUNS
KEY = {"7": "backbone", "8": "beta", "9": "memory_size"}
DEFAULT = {"backbone": "efficientnet_lite0", "beta": None, "memory_size": 30}


print("| table | mode | setting | seed | image AUROC | pixel AUROC | AU-PRO | full method, same seed | cell − full [95 %] |")
print("|---|---|---|---|---|---|---|---|---|")
spread, summary, full_by = {}, {}, {}
for table in ("7", "8", "9"):
    key = KEY[table]
    every = read_cells(table, root)
    for mode in dict(MODES).values():
        found = {(cell.setting[key], cell.run["seed"]): res for m, cell, res in every if m == mode}
        if not found:  # no runs in this mode (Table 7 has no paper-mode profile)
            continue
        full = {s: r for (v, s), r in found.items() if v == DEFAULT[key]}
        full_by[(table, mode)] = full
        spread[mode] = spread.get(mode) or sorted(100 * r["metrics"]["image_auroc"]["value"] for r in full.values())
        for (v, seed), r in sorted(found.items(), key=lambda kv: (kv[0][0] is None, 0 if kv[0][0] is None else kv[0][0], kv[0][1])):
            if v == DEFAULT[key]:
                continue
            summary.setdefault((table, mode, f"{key} = {v}"), []).append((seed, r))
            f = full.get(seed)
            gap = "–"
            if f is not None:
                c = paired_bootstrap_records(r["extra"]["image_scores"], f["extra"]["image_scores"], n_boot=2000, seed=0)
                gap = f"{100 * (c.a - c.b):+.1f} [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"
            print(f"| {table} | {mode} | {key} = {v} | {seed} | {pct(r, 'image_auroc')} | {pct(r, 'pixel_auroc')} | "
                  f"{pct(r, 'aupro')} | {pct(f, 'image_auroc') if f else '–'} | {gap} |")
print()
print("| table | mode | setting | seeds | image AUROC per seed | mean ± std | full method, same seeds |")
print("|---|---|---|---|---|---|---|")
for (table, mode, setting), rows in summary.items():
    vals = [100 * r["metrics"]["image_auroc"]["value"] for _, r in rows]
    ref = [100 * full_by[(table, mode)][s]["metrics"]["image_auroc"]["value"] for s, _ in rows
           if s in full_by[(table, mode)]]
    sd = f" ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else ""
    ref = f"{statistics.fmean(ref):.1f}" if ref else "–"
    print(f"| {table} | {mode} | {setting} | {len(vals)} | {' / '.join(f'{v:.1f}' for v in vals)} | "
          f"{statistics.fmean(vals):.1f}{sd} | {ref} |")
for mode, vals in spread.items():
    if vals:
        sd = f", std {statistics.stdev(vals):.1f}" if len(vals) > 1 else ""
        print(f"{mode} mode, full method (Lite0, random β, L = 30) over seeds: {', '.join(f'{v:.1f}' for v in vals)}{sd}")
