#!/usr/bin/env python
"""Write docs/results/metrics_protocols_<name>.{json,md} from one run of notebooks/00_metrics.ipynb.

    python tools/protocols_report.py RUN_DIR OUT_STEM "COMMAND" WALL_SECONDS

RUN_DIR is the notebook's ``<output_dir>/metrics/<dataset>/<category>/rd/seed<k>`` (results.json and
protocols.json). The markdown gives the command, commit, machine, data and teacher weights, then the
AU-PRO protocols, the FPR limits, the resolution / mask handling / smoothing rows and the LOCO sPRO split.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def markdown(record: dict) -> str:
    res, comp = record["results"], record["protocols"]
    counts = res["data"]["counts"]
    tests = ", ".join(f"{k} {v}" for k, v in counts["test"].items())
    m = {k: v["value"] for k, v in res["metrics"].items()}
    w = res["weights"]
    lines = [
        f"# Metric protocols on {res['dataset']}/{res['category']} (notebook 00, {record['machine']})", "",
        f"Command: `{record['command']}` ({record['wall_s'] / 60:.1f} min). Commit `{res['git_commit']}`. "
        f"Data: {res['dataset']}/{res['category']}: {sum(counts['train'].values())} train images, "
        f"{sum(counts['test'].values())} test ({tests}), {res['protocol']['image_size']} px. Detector: RD, "
        f"{res['protocol'].get('epochs')} epochs, teacher `{w['name']}` with weights `{w['source']}` "
        f"(sha256 `{w['sha256'][:12]}…`).", "",
        "The detector is only the source of the maps; what matters is how far each protocol moves the number "
        "on the same maps.", "",
        f"Image AUROC {m['image_auroc']:.3f}, pixel AUROC {m['pixel_auroc']:.3f}, pixel AP {m['pixel_ap']:.3f}, "
        f"AU-PRO (official) {m['aupro']:.3f}.", "",
        "## AU-PRO protocols (same maps)", "", "| protocol | AU-PRO | vs official |", "|---|---|---|",
    ]
    rows = comp["aupro_protocols"]
    official = rows["whole set · exact (mvtec, official)"]["value"]
    lines += [f"| {name} | {r['value']:.3f} | {r['value'] - official:+.3f} |" for name, r in rows.items()]
    limits = comp["aupro_by_fpr_limit"]
    lines += ["", "## FPR limit (official curve)", "", "| limit | " + " | ".join(limits) + " |",
              "|---|" + "---|" * len(limits), "| AU-PRO | " + " | ".join(f"{v:.3f}" for v in limits.values()) + " |",
              "", "## Resolution, mask resizing, smoothing", "", "| evaluation | pixel AUROC | AU-PRO | regions |",
              "|---|---|---|---|"]
    lines += [f"| {name} | {r['pixel_auroc']:.3f} | {r['aupro']:.3f} | {r['regions']} |"
              for name, r in comp["evaluation_variants"].items()]
    lines += ["", '"Original" is the size of the images as adlib stores them: synthetic data are generated at '
              "128 px, MTD is prepared at 256 px from raw images of varying size."]
    loco = comp["loco"]["metrics"]
    lines += ["", f"## sPRO (synthetic LOCO-layout `{comp['loco']['category']}`, RD trained the same way)", "",
              "| split | image AUROC | AU-sPRO@0.05 | AU-sPRO@0.3 | AU-sPRO@1 |", "|---|---|---|---|---|"]
    for kind in ("logical", "structural", "mean"):
        sp = loco["spro"]["value"][kind]
        lines.append(f"| {kind} | {loco['loco_image_auroc']['value'][kind]:.3f} | {sp['0.05']:.3f} | {sp['0.3']:.3f} "
                     f"| {sp['1.0']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    run, out, command, wall = Path(argv[0]), Path(argv[1]), argv[2], float(argv[3])
    record = {"what": "notebook 00_metrics: the same RD maps under each AU-PRO protocol, FPR limit, resolution, "
                      "mask handling and smoothing, plus sPRO on a LOCO-layout category",
              "command": command, "wall_s": wall, "machine": f"{os.cpu_count()}-core CPU, no GPU",
              "results": json.loads((run / "results.json").read_text()),
              "protocols": json.loads((run / "protocols.json").read_text())}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(record))
    print(out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
