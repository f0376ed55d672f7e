#!/usr/bin/env python
"""Download and prepare the Magnetic Tile Defect dataset (MTD) (converted to the MVTec layout).

    python data_scripts/download_mtd.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets the GitHub zip of abin24/Magnetic-tile-defect-datasets. (no published checksum; the
SHA-256 of the copy is recorded in ROOT/.adlib/mtd.json), unpacks it into ROOT/mtd_raw/ and
runs adlib.data.mtd.prepare_mtd: ROOT/mtd/{train/good, test/<defect>, ground_truth/<defect>}
with a seeded random 80/20 split of the MT_Free images (MRKD / DifferNet protocol).

Files downloaded by hand are picked up from --root; see data_scripts/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import adlib  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adlib.data.download_cli import cli


def _add_arguments(p) -> None:
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default: keep originals)")
    p.add_argument("--seed", type=int, default=0, help="seed of the 80/20 normal split (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a copy prepared with other settings")


def _prepare_kwargs(a) -> dict:
    return {"size": a.size, "seed": a.seed, **({"overwrite": True} if a.overwrite else {})}


def main(argv: list[str] | None = None) -> int:
    return cli("mtd", argv, description=__doc__, add_arguments=_add_arguments, prepare_kwargs=_prepare_kwargs)


if __name__ == "__main__":
    sys.exit(main())
