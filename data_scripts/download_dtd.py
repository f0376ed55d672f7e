#!/usr/bin/env python
"""Download and prepare the Describable Textures Dataset (DTD).

    python data_scripts/download_dtd.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets dtd-r1.0.1.tar.gz (about 0.6 GiB, SHA-256 and MD5 checked) and unpacks it into
ROOT/dtd/images/<47 categories>/*.jpg (the anomaly-texture source of DRAEM-style methods).

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
    return cli("dtd", argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
