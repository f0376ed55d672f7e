#!/usr/bin/env python
"""Download and prepare BTAD (beanTech anomaly detection).

    python data_scripts/download_btad.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets btad.zip (SHA-256 checked) and unpacks it into
ROOT/btad/BTech_Dataset_transformed/{01,02,03}/ (train/ok, test/{ok,ko}, ground_truth/ko).

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
    return cli("btad", argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
