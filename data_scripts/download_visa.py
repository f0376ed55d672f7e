#!/usr/bin/env python
"""Download and prepare VisA (converted to the MVTec layout, official 1cls split).

    python data_scripts/download_visa.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets VisA_20220922.tar (SHA-256 checked), unpacks it into ROOT/visa_raw/ and converts it
with adlib.data.visa.convert_visa into ROOT/visa/<class>/{train/good, test/{good,bad},
ground_truth/bad} using split_csv/1cls.csv (from the tar, else from the spot-diff repo).

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


def main(argv: list[str] | None = None) -> int:
    return cli("visa", argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
