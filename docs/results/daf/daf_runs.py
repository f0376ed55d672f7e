"""The DAF runs on MTD, one entry per trained model, for the result scripts beside this file (one reader, three
tables). Run those scripts from the repo root; each takes the runs root as an optional first argument."""
import glob, json
from typing import NamedTuple


class Run(NamedTuple):
    ablation: str        # none (DAF), seg_only, ts_only, no_aux
    synthesis: str       # the training strategy: dra, nsa_b, simple_texture, simple_shape, simple_texture_shape
    disc_input: bool     # Table VII: is M̄ fed to the segmentation head
    seed: int
    epochs: int
    record: dict         # the results.json


def load_runs(root: str = "docs/results/daf/runs") -> list[Run]:
    """Every ``results.json`` under ``<root>/daf/mtd/mtd``, sorted by path; ValueError when there is none."""
    paths = sorted(glob.glob(f"{root}/daf/mtd/mtd/*/seed*/results.json"))
    if not paths:
        raise ValueError(f"no DAF runs under {root}/daf/mtd/mtd: run the configs first (see README.md)")
    out = []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        c = r["config"]
        out.append(Run(c.get("ablation", "none"), c.get("synthesis", "dra"), bool(c.get("seg_discrepancy_input", True)),
                       int(r["seed"]), int(r["protocol"]["epochs"]), r))
    return out
