"""DM-GRD on MTD: the code's checkpoint selection on the test set vs the final model (issue 18 point 4;
run from the repo root). For each run recorded with ``ckpt_selection: best_on_test``: the selected
checkpoint's metrics, the last step's (``extra.final_metrics``; absent when the best step was the last),
what the selection adds, and how much the selection criterion wandered over the last ten evaluations."""
import glob, json

METRICS = ("image_auroc", "pixel_auroc", "aupro", "aupro_fpr1")
for p in sorted(glob.glob("docs/results/dm_grd/runs/**/results.json", recursive=True)):
    r = json.load(open(p))
    if r["protocol"].get("ckpt_selection") != "best_on_test":
        continue
    ex, tr = r.get("extra", {}), r["protocol"].get("training", {})
    hist = ex.get("val_history") or []
    final = ex.get("final_metrics") or {k: r["metrics"][k]["value"] for k in METRICS if k in r["metrics"]}
    print(f"mode {r['config']['mode']}, losses {r['config']['losses']}, seed {r['seed']}: best step "
          f"{tr.get('best_step')} of {tr.get('steps')} ({len(hist)} test-set evaluations)")
    print("| metric | selected on the test set | final model | selection adds |")
    print("|---|---|---|---|")
    for k in METRICS:
        if k in r["metrics"] and k in final:
            a, b = 100 * r["metrics"][k]["value"], 100 * final[k]
            print(f"| {k} | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
    if hist:
        crit = [sum(h[k] for k in ("image_auroc", "pixel_auroc", "aupro_fpr1")) / 3 for h in hist]
        last10 = crit[-10:]
        print(f"selection criterion (mean of image AUROC, pixel AUROC, full-range PRO), last {len(last10)} evaluations: "
              f"{100 * min(last10):.1f}–{100 * max(last10):.1f}; image AUROC over them: "
              f"{100 * min(h['image_auroc'] for h in hist[-10:]):.1f}–{100 * max(h['image_auroc'] for h in hist[-10:]):.1f}")
    print()
