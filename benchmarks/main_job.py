#!/usr/bin/env python
"""The README's main job on this checkout, timed by phase, with every training's image AUROC (issue 22).

    python benchmarks/main_job.py [--out docs/results]     # about ten minutes on 2 cores: run it on an idle machine

Runs ``adlib data prepare`` into an empty data root, ``adlib reproduce --all`` (with adlib's own choice of
threads and worker processes: no thread variables are passed on) and ``adlib report``, each timed as a
whole process (:func:`cpu_speed.main_job`). Writes ``main_job_cpu.{json,md}``: the phases, the peak
memory of any process, and each training's results path (under the runs folder), image AUROC and
training time — ``tests/test_main_job_record.py`` checks that record against today's quick cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_speed import REPO, _git, main_job  # noqa: E402


def write_markdown(rec: dict, path: Path) -> None:
    by_method = defaultdict(list)
    for c in rec["cells"]:
        by_method[c["method"]].append(c)
    lines = ["# The README's main job on a 2-core CPU", "",
             f"`python benchmarks/main_job.py` at commit `{rec['commit'][:10]}`"
             f"{' (+ uncommitted changes)' if rec['dirty'] else ''}: an empty data root, then "
             "`adlib data prepare`, `adlib reproduce --all` and `adlib report`, each timed as a whole process. "
             f"Machine: {rec['machine']['cpu_model']}, {rec['machine']['cpu_count']} cores, no GPU; torch "
             f"{rec['machine']['torch']}, Python {rec['machine']['python']}. Weights: {rec['weights']}. "
             "Data: adlib's synthetic categories (seed 0) and MTD from `../shared/datasets/mtd_raw` (MRKD's split).", "",
             "| phase | seconds |", "|---|---|"]
    lines += [f"| {k} | {rec[k]:.1f} |" for k in ("data_prepare_s", "reproduce_all_s", "report_s")]
    lines += [f"| from an empty data root (prepare + reproduce) | {rec['data_prepare_s'] + rec['reproduce_all_s']:.1f} |",
              "", f"Inside `reproduce --all`: {rec['n_trainings']} trainings, {rec['trainings_s']:.0f} s of training, "
              f"{rec['evaluations_s']:.0f} s of evaluation (variants included), summed over worker processes "
              f"(torch threads per training: {sorted({c['torch_threads'] for c in rec['cells']})}). Peak memory of one "
              f"process: {rec['peak_rss_mb']:.0f} MB.", "",
              "| method | trainings | image AUROC mean | min | at or below 0.5 | train s (mean) |", "|---|---|---|---|---|---|"]
    for m, cs in sorted(by_method.items()):
        auc = [c["image_auroc"] for c in cs if c["image_auroc"] is not None]
        low = [c["path"] for c in cs if c["image_auroc"] is not None and c["image_auroc"] <= 0.5]
        lines.append(f"| {m} | {len(cs)} | {100 * statistics.fmean(auc):.1f} | {100 * min(auc):.1f} | {len(low)} | "
                     f"{statistics.fmean(c['train_s'] for c in cs):.1f} |")
    low = [c for c in rec["cells"] if c["image_auroc"] is not None and c["image_auroc"] <= 0.5]
    if low:
        lines += ["", "Trainings at or below chance:", ""] + [f"- `{c['path']}`: {100 * c['image_auroc']:.1f}" for c in low]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "docs" / "results"))
    a = p.parse_args(argv)
    import torch

    from adlib.engine.env import cpu_model

    with tempfile.TemporaryDirectory(prefix="adlib_main_job_") as work:
        rec = main_job(REPO, Path(work), cells=True)
    rec.update({"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
                "command": "python benchmarks/main_job.py",
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "weights": "; ".join(sorted({c["weights"] for c in rec["cells"]})),
                "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                            "torch": torch.__version__, "platform": platform.platform()}})
    out = Path(a.out)
    (out / "main_job_cpu.json").write_text(json.dumps(rec, indent=1) + "\n")
    write_markdown(rec, out / "main_job_cpu.md")
    print((out / "main_job_cpu.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
