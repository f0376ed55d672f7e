#!/usr/bin/env python
"""Download and prepare DAGM 2007.

    python data_scripts/download_dagm.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets Class1.zip ... Class10.zip from the Zenodo record 10.5281/zenodo.8086136 (no
published checksums; the SHA-256 of each copy is recorded in ROOT/.adlib/dagm.json) and
unpacks them into ROOT/dagm/Class1 ... Class10/{Train,Test}. If Zenodo is unreachable, the
files can also come from the HCI Heidelberg page or the Kaggle mirror (see the error message).

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
    return cli("dagm", argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
