#!/usr/bin/env python
"""Strip a notebook for committing: drop outputs and execution counts except in cells marked
``# NBVAL_CHECK_OUTPUT`` (their outputs are what nbval compares against).

    python tools/strip_notebook.py notebooks/*.ipynb            # in place
    python tools/strip_notebook.py executed.ipynb -o clean.ipynb  # keep check outputs of an executed copy
"""

from __future__ import annotations

import argparse
import sys

import nbformat

CHECK = "# NBVAL_CHECK_OUTPUT"
VOLATILE_META = ("papermill", "execution", "widgets")


def strip(nb) -> None:
    for key in VOLATILE_META:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in VOLATILE_META:
            cell.metadata.pop(key, None)
        if "tags" in cell.metadata and not cell.metadata["tags"]:
            del cell.metadata["tags"]
        if cell.cell_type != "code":
            continue
        keep = cell.source.lstrip().startswith(CHECK)
        if keep:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "stream" or o.get("name") != "stderr"]
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+")
    p.add_argument("-o", "--output", help="write here instead of in place (one input only)")
    a = p.parse_args(argv)
    if a.output and len(a.paths) != 1:
        p.error("-o takes one input notebook")
    for path in a.paths:
        nb = nbformat.read(path, as_version=4)
        strip(nb)
        nbformat.write(nb, a.output or path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
