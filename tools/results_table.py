#!/usr/bin/env python
"""Collect the finished cells of table grids into one JSON + markdown summary for docs/results.

    python tools/results_table.py --runs runs --profile small --out docs/results/rd_variance_loss_small \\
        configs/rd_variance_loss/table1.yaml configs/rd_variance_loss/table3.yaml ...

Each row: table, setting, category, image / pixel AUROC and AU-PRO (ours, in %), the teacher weights
and the training time. The paper's value is shown beside it when the paper reports that exact cell
(same dataset and category); otherwise it is left empty — MVTec averages are not MTD numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from adlib.reference import paper_value
from adlib.reproduce import collect, load_config


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+")
    p.add_argument("--runs", required=True)
    p.add_argument("--profile", default="small")
    p.add_argument("--out", required=True, help="output path without extension")
    p.add_argument("--title", default=None)
    a = p.parse_args(argv)
    rows, machine = [], None
    for path in a.configs:
        cfg = load_config(path)
        if a.profile not in cfg:
            continue
        for r in collect(cfg, a.profile, a.runs):
            res = json.loads(Path(r["path"]).read_text())
            machine = machine or res["env"]
            setting = r["setting"] or {"method": r["method"]}
            dataset = res["dataset"]
            paper = {}
            for metric in ("image_auroc", "pixel_auroc"):
                keys = dict(table=cfg["table"] if cfg["table"] != "4" else "Fig. 4", dataset=dataset, category=r["category"], metric=metric)
                if "method" in setting:
                    keys["setting"] = setting["method"]
                paper[metric] = paper_value(cfg["paper"], **keys) if dataset == "mvtec_ad" else None
            rows.append({"table": cfg["table"], "setting": setting, "method": r["method"], "dataset": dataset,
                         "category": r["category"], "seed": r["seed"],
                         "ours": {k: round(100 * v, 2) for k, v in r["metrics"].items()}, "paper": paper,
                         "weights": r["weights"], "train_s": r["timings"].get("train_s"),
                         "protocol": {k: res["protocol"].get(k) for k in ("image_size", "batch_size", "epochs", "aupro_mode", "ckpt_selection", "device")},
                         "results_file": r["path"]})
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"title": a.title, "profile": a.profile, "machine": machine, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    lines = [f"# {a.title or 'Results'}", ""]
    if machine:
        lines += [f"Machine: {machine.get('platform')}, {machine.get('cpu_count')} CPU cores, device `{machine.get('device')}`, "
                  f"torch {machine.get('torch')}, timm {machine.get('timm')}.", ""]
    weights = {json.dumps(r["weights"], sort_keys=True) for r in rows}
    for w in sorted(weights):
        w = json.loads(w)
        lines.append(f"Teacher weights: `{w.get('name')}` from `{w.get('source')}` (sha256 `{w.get('sha256')}`).")
    lines += ["", "| table | setting | dataset/category | image AUROC | pixel AUROC | AU-PRO (mvtec, 0.3) | paper I / P | train s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = ", ".join(f"{k}={v}" for k, v in r["setting"].items())
        pp = r["paper"]
        paper = " / ".join("–" if pp.get(m) is None else f"{pp[m]:.1f}" for m in ("image_auroc", "pixel_auroc"))
        o = r["ours"]
        lines.append(f"| {r['table']} | {st} | {r['dataset']}/{r['category']} | {o['image_auroc']:.1f} | {o['pixel_auroc']:.1f} | "
                     f"{o.get('aupro', float('nan')):.1f} | {paper} | {r['train_s'] or 0:.0f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
