"""DM-GRD on MTD: the cells of Tables 6–9 (`small` / `small_paper`, seeds 0–2) that have no results yet — the README's
"Left" list. A cell two tables share (the full method) is counted once, under the first table that names it; code
mode's kd+se is not counted: as coded L_SE carries no gradient, so it trains kd bit for bit (run from the repo root;
``[runs root]`` optional)."""
import sys

from cells import RUNS, table_cells

root = sys.argv[1] if len(sys.argv) > 1 else RUNS
KEY = {"6": "losses", "7": "backbone", "8": "beta", "9": "memory_size"}
seen, left = set(), {}
for table, key in KEY.items():
    for mode, cell in table_cells(table):
        path = cell.results_path(root)
        if path in seen or (mode == "code" and cell.setting.get("losses") == "kd+se"):
            continue
        seen.add(path)
        if cell.read_results(root)[0] is None:
            left.setdefault((table, mode), []).append(f"{key} = {cell.setting[key]} seed {cell.run['seed']}")
print(f"{sum(map(len, left.values()))} cells left")
for (table, mode), cells in left.items():
    print(f"- Table {table}, {mode} mode ({len(cells)}): {'; '.join(cells)}")
