"""The shared command line of ``data_scripts/download_<name>.py``."""

from __future__ import annotations

import argparse
import sys

from adlib.paths import data_root

from . import sources
from .download import fetch
from .errors import DataError


def cli(name, argv=None, description=None, add_arguments=None, prepare_kwargs=None) -> int:
    """The shared command line of ``data_scripts/download_<name>.py``; returns the exit code."""
    src = sources.get_source(name)
    p = argparse.ArgumentParser(description=description or f"Download and prepare {src.title}.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(data_root()),
                   help="data root (default: $ADLIB_DATA, else ~/.cache/adlib/data)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--keep-archive", dest="keep_archive", action="store_true", default=True,
                   help="keep the downloaded archive (default)")
    g.add_argument("--remove-archive", dest="keep_archive", action="store_false",
                   help="delete the archive after a successful extraction")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--offline", action="store_true",
                   help="no network: only verify/extract/prepare what is already in --root")
    p.add_argument("--force", action="store_true", help="ignore the done-marker and redo extraction/preparation")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    if add_arguments:
        add_arguments(p)
    a = p.parse_args(argv)
    try:
        fetch(src.name, a.root, offline=a.offline or None, keep_archive=a.keep_archive,
              progress=not a.no_progress, prepare_kwargs=prepare_kwargs(a) if prepare_kwargs else None,
              force=a.force, timeout=a.timeout)
    except (DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; partial downloads (*.part) are kept and resumed by the next run", file=sys.stderr)
        return 130
    print(sources.describe(src.name, a.root))
    return 0
