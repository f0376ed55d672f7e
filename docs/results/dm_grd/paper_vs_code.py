"""DM-GRD on MTD, Table 6's rows: paper − code mode per objective, and, in each mode, each row against the
full objective; paired bootstrap of image AUROC over the test images (seed 0; run from the repo root;
``[runs root]`` optional). Table 6's cells are read through its config: other tables' runs never mix in.
Also says which code-mode rows produced identical image scores (the spec: L_SE carries no gradient as coded)."""
import sys
from adlib.metrics import paired_bootstrap_records
from cells import RUNS, read_cells

root = sys.argv[1] if len(sys.argv) > 1 else RUNS
# Table 6's cells only, as its profiles name them (final model, random beta, L = 30)
found = read_cells("6", root)
every = [r for _, _, r in found]
runs = {(mode, cell.setting["losses"]): r for mode, cell, r in found if cell.run["seed"] == 0}
ORDER = ["kd", "kd+ot", "kd+con", "kd+se", "kd+ot+con", "kd+ot+con+se"]
def fmt(c):
    return f"{100 * (c.a - c.b):+.1f} [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"
print("| objective | code | paper | paper − code [95 %] | code: row − full | paper: row − full |")
print("|---|---|---|---|---|---|")
for L in ORDER:
    rc, rp = runs.get(("code", L)), runs.get(("paper", L))
    if rc is None and rp is None:
        continue
    cells = [f"{100 * r['metrics']['image_auroc']['value']:.1f}" if r else "–" for r in (rc, rp)]
    pc = fmt(paired_bootstrap_records(rp["extra"]["image_scores"], rc["extra"]["image_scores"], n_boot=2000)) if rc and rp else "–"
    full = []
    for mode, r in (("code", rc), ("paper", rp)):
        f = runs.get((mode, "kd+ot+con+se"))
        full.append(fmt(paired_bootstrap_records(r["extra"]["image_scores"], f["extra"]["image_scores"], n_boot=2000))
                    if r and f and L != "kd+ot+con+se" else "–")
    print(f"| {L} | {cells[0]} | {cells[1]} | {pc} | {full[0]} | {full[1]} |")
for mode in ("code", "paper"):
    have = [L for L in ORDER if (mode, L) in runs]
    groups = {}
    for L in have:
        groups.setdefault(tuple(runs[(mode, L)]["extra"]["image_scores"]["scores"]), []).append(L)
    same = [g for g in groups.values() if len(g) > 1]
    print(f"{mode} mode: {len(have)} rows; identical image scores: " + ("; ".join(" = ".join(g) for g in same) or "none"))

# training noise: in code mode L_SE carries no gradient and L_OT a rounding-level one (rounding_divergence.md), so
# {kd, kd+ot, kd+se} train one objective and {kd+con, kd+ot+con, full} another; the spread inside a group, with the
# seeds of the full model, is run-to-run noise, and the gap between the groups' means is what L_Con does
import statistics

GROUPS = {"L_KD group (kd, kd+ot, kd+se)": {"kd", "kd+ot", "kd+se"},
          "L_Con group (kd+con, kd+ot+con, full)": {"kd+con", "kd+ot+con", "kd+ot+con+se"}}
for mode in ("code", "paper"):
    for L in ORDER:  # every objective run with more than one seed
        by_seed = sorted((r["seed"], 100 * r["metrics"]["image_auroc"]["value"]) for r in every
                         if r["config"]["mode"] == mode and r["config"]["losses"] == L)
        if len(by_seed) > 1:
            v = [x for _, x in by_seed]
            print(f"{mode} mode, {'full objective' if L == 'kd+ot+con+se' else L} by seed: "
                  + ", ".join(f"seed {s} {x:.1f}" for s, x in by_seed)
                  + f" (mean {statistics.fmean(v):.1f}, std {statistics.stdev(v):.1f})")
means = {}
for name, members in GROUPS.items():
    distinct = {tuple(r["extra"]["image_scores"]["scores"]): r for r in every  # kd+se repeats kd bit for bit: one run
                if r["config"]["mode"] == "code" and r["config"]["losses"] in members}
    grp = sorted(100 * r["metrics"]["image_auroc"]["value"] for r in distinct.values())
    if len(grp) > 1:
        m, s = means[name] = statistics.fmean(grp), statistics.stdev(grp)
        print(f"code mode, the {name}, rows and seeds that train the same objective: {len(grp)} distinct runs, "
              f"{min(grp):.1f}–{max(grp):.1f} (mean {m:.1f}, std {s:.1f})")
        means[name] += (len(grp),)
if len(means) == 2:
    (ma, sa, na), (mb, sb, nb) = means.values()
    se = (sa ** 2 / na + sb ** 2 / nb) ** 0.5
    print(f"code mode, L_Con group − L_KD group: {mb - ma:+.1f} points (standard error from the two groups' spreads "
          f"{se:.1f}; |difference| / se = {abs(mb - ma) / se:.1f})")
