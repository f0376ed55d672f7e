"""Where adlib keeps data by default (``$ADLIB_DATA``, else ``~/.cache/adlib/data``) and where the
files shipped with the package are (table configs, notebooks)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout, when adlib runs from one
RESOURCES = ("configs", "notebooks")


def resource_dir(name: str) -> Path:
    """A folder shipped inside the package: ``"configs"`` (paper table grids) or ``"notebooks"``.

    Both live in ``adlib/`` so an installed (non-editable) package has them too; in a checkout
    ``adlib/notebooks`` is a link to the top-level ``notebooks/``.
    """
    if name not in RESOURCES:
        raise ValueError(f"unknown resource folder {name!r} (known: {', '.join(RESOURCES)})")
    path = PACKAGE_DIR / name
    if not path.is_dir():
        raise FileNotFoundError(f"adlib's {name} folder is missing: {path} (broken install?)")
    return path


def data_root() -> Path:
    """Default dataset root (``$ADLIB_DATA`` or ``~/.cache/adlib/data``)."""
    env = os.environ.get("ADLIB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adlib" / "data"


def shared_mtd_raw() -> Path | None:
    """The raw MTD copy beside the checkout (``../shared/datasets/mtd_raw``), if present."""
    cand = REPO_ROOT.parent / "shared" / "datasets" / "mtd_raw"
    return cand if cand.is_dir() else None


def portable_path(path) -> str | None:
    """``path`` as results files record it: no absolute path of the machine that ran. Relative to
    the data root (``$ADLIB_DATA/...``), to an installed package (``<site-packages>/...``), to the
    checkout (``<repo>/...``) or the home folder (``~/...``); any other path keeps its last two parts
    (``.../parent/name``)."""
    if path is None:
        return None
    p = Path(os.path.abspath(os.path.expanduser(str(path))))
    anchors = [("$ADLIB_DATA", Path(os.path.abspath(data_root())))]
    anchors += [("<site-packages>", Path(s)) for s in _site_dirs()]
    anchors += [("<repo>", REPO_ROOT), ("~", Path.home())]
    for name, base in anchors:
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return name if str(rel) == "." else f"{name}/{rel.as_posix()}"
    return ".../" + "/".join(p.parts[-2:])


def _site_dirs() -> list[str]:
    import site
    import sys

    dirs = [d for d in sys.path if d.endswith(("site-packages", "dist-packages"))]
    try:
        dirs += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # some virtualenvs lack them
        pass
    return list(dict.fromkeys(dirs))
