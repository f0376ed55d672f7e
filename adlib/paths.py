"""Where adlib keeps data by default: ``$ADLIB_DATA``, else ``~/.cache/adlib/data``."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Default dataset root (``$ADLIB_DATA`` or ``~/.cache/adlib/data``)."""
    env = os.environ.get("ADLIB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adlib" / "data"


def shared_mtd_raw() -> Path | None:
    """The raw MTD copy beside the checkout (``../shared/datasets/mtd_raw``), if present."""
    cand = REPO_ROOT.parent / "shared" / "datasets" / "mtd_raw"
    return cand if cand.is_dir() else None
