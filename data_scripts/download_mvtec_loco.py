#!/usr/bin/env python
"""Download and prepare MVTec LOCO AD.

    python data_scripts/download_mvtec_loco.py [--root DIR] [--offline] [--remove-archive] [--no-progress]

Gets mvtec_loco_anomaly_detection.tar.xz (about 5.7 GiB, SHA-256 checked) and unpacks it
into ROOT/mvtec_loco/<object>/ (5 objects). Licence CC BY-NC-SA 4.0: do not re-host.

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
    return cli("mvtec_loco", argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
