#!/usr/bin/env python
"""Convert the raw Magnetic Tile Defect dataset into the MVTec layout (MRKD protocol).

    python data_scripts/prepare_mtd.py --src ../shared/datasets/mtd_raw --dst data --size 256

writes ``data/mtd/{train/good, test/{good,blowhole,break,crack,fray,uneven}, ground_truth/...}``
and ``data/mtd/split.json`` (the seeded 80/20 split of normal images, with the file lists).
"""

from __future__ import annotations

import argparse
import sys

from adlib.data.errors import DataError
from adlib.data.mtd import prepare_mtd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="raw MTD folder (holding MT_Free/, MT_Blowhole/, ...)")
    p.add_argument("--dst", required=True, help="output dataset root; the category folder is DST/<category>")
    p.add_argument("--size", type=int, default=None, help="resize to SIZE×SIZE (compact copy); default: keep")
    p.add_argument("--seed", type=int, default=0, help="seed of the normal-image split (default 0)")
    p.add_argument("--train-fraction", type=float, default=0.8, help="fraction of normals for training")
    p.add_argument("--category", default="mtd", help="category folder name (default mtd)")
    p.add_argument("--overwrite", action="store_true", help="replace a copy prepared with other settings")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        out = prepare_mtd(a.src, a.dst, size=a.size, seed=a.seed, train_fraction=a.train_fraction,
                          category=a.category, overwrite=a.overwrite, progress=not a.no_progress)
    except (DataError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    import json
    counts = json.loads((out / "split.json").read_text())["counts"]
    print(f"MTD ready at {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
