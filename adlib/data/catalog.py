"""Open any dataset by name: the one entry point notebooks, the runner and scripts use.

    open_dataset("synthetic", "weave", "train", image_size=128)
    open_dataset("mtd", "mtd", "test")                  # prepared from ../shared/datasets/mtd_raw if needed
    open_dataset("mvtec_ad", "bottle", "test", root="/data")
    open_dataset("/my/folder", "widget", "test")        # a folder: MVTec layout or good/ + defect folders

Roots follow the download scripts: ``<data root>/<dataset>/…`` with the data root from
``$ADLIB_DATA`` (default ``~/.cache/adlib/data``). A dataset that is missing raises an error that
says how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path

from adlib.paths import data_root, shared_mtd_raw

from .base import AnomalyDataset
from .errors import DatasetNotFoundError

DATASETS = ("synthetic", "mtd", "mvtec_ad", "mvtec_loco", "visa", "btad", "dagm")


def is_folder_dataset(name: str) -> bool:
    """True when ``name`` is a folder path rather than one of :data:`DATASETS`."""
    return str(name) not in DATASETS


def dataset_key(name: str) -> str:
    """The dataset's folder name in results trees: its name, or for a folder path a safe name of it
    (:func:`adlib.data.folder.folder_key`): nothing is ever written inside a dataset folder."""
    from .folder import folder_key

    return folder_key(name) if is_folder_dataset(name) else name


def dataset_root(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where dataset ``name`` lives under the data root (``root`` overrides the data root); a folder path is itself."""
    if is_folder_dataset(name):
        return Path(name).expanduser()
    base = Path(root).expanduser() if root is not None else data_root()
    sub = {"synthetic": "synthetic", "mtd": "", "mvtec_ad": "mvtec_ad", "mvtec_loco": "mvtec_loco", "visa": "visa",
           "btad": "btad", "dagm": "dagm"}[name]
    return base / sub if sub else base


def _check_prepared(dataset: str, category: str, where: Path, root: Path) -> None:
    """A VisA category, or a tree ``fetch`` extracted, must match its file list (issue 14: never
    use half a dataset): redone from the raw copy / archive, else a clear error. A tree put in
    place by hand (no file list, no download record) is used as it is."""
    from . import prepared, sources
    from .download import STATE_DIR, fetch

    script = f"`python data_scripts/download_{dataset}.py --root {root}`"
    if dataset == "visa":
        csv = root / "visa_raw" / "split_csv" / "1cls.csv"
        if not (where / category).is_dir() and not csv.is_file():
            return  # not converted, no raw copy: VisA's own error says what to do
        from .visa import convert_visa

        redo = (lambda: convert_visa(csv.parents[1], where, split_csv=csv, categories=category, progress=False)) \
            if csv.is_file() else None
        prepared.ensure(where / category, redo, f"VisA {category}", f"Convert it again: run {script} "
                        f"(or delete {where / category})")
        return
    src = sources.SOURCES.get(dataset)
    if src is None or src.prepare is not None:
        return
    base = root / src.dataset_dir
    if not (base / prepared.MANIFEST).is_file() and not (root / STATE_DIR / f"{src.name}.json").is_file():
        return  # extracted by hand: used as it is
    under = {"btad": lambda c: f"{int(c):02d}", "dagm": lambda c: f"Class{int(c)}"}.get(dataset, str)(category) \
        if category.isdigit() else category
    prepared.ensure(base, lambda: fetch(dataset, root, offline=True, progress=False), src.title,
                    f"Run {script} again: it extracts the archive anew or says which file to get "
                    f"(or delete {base} and run it)", under=under)


def open_dataset(dataset: str, category: str, split: str = "train", root: str | os.PathLike | None = None,
                 synthetic_size: int | None = None, **kwargs) -> AnomalyDataset:
    """A split of one category of a named dataset (or of a folder path in the MVTec layout).

    ``kwargs`` go to the dataset (``image_size``, ``normalize``, ``cache``, ``mask_interpolation``...).
    Synthetic data are generated on first use at ``synthetic_size`` (default 128 px, in
    ``synthetic/``; 256 px in ``synthetic_256/`` when a larger ``image_size`` is asked for);
    MTD is prepared from ``../shared/datasets/mtd_raw`` when that raw copy is present.
    """
    if dataset not in DATASETS:
        path = Path(dataset).expanduser()
        if path.exists():
            from .folder import open_folder

            return open_folder(path, category, split, **kwargs)
        raise DatasetNotFoundError(f"unknown dataset {dataset!r}: use one of {DATASETS} or the path of a folder "
                                   "(MVTec layout, or good/ + one folder per defect type)")
    name = str(category)
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise DatasetNotFoundError(f"category {category!r} of {dataset} is not a plain folder name (no '/', "
                                   "'\\', '..'); pass one of the dataset's categories")
    where = dataset_root(dataset, root)
    if dataset == "synthetic":
        from .mvtec import MVTecAD
        from .synthetic import SYNTHETIC_REGISTRY, generate

        wanted = kwargs.get("image_size")
        size = synthetic_size or (256 if isinstance(wanted, int) and wanted > 128 else 128)
        if size != 128:  # the 128-px default set lives in synthetic/, other sizes beside it
            where = where.with_name(f"synthetic_{size}")
        generate(where, categories=category, image_size=size, progress=False)
        if SYNTHETIC_REGISTRY[category].layout == "mvtec_loco":
            from .loco import MVTecLOCO

            return MVTecLOCO(where, category, split, **kwargs)
        return MVTecAD(where, category, split, **kwargs)
    if dataset == "mtd" and category == "mtd":
        from .mtd import ensure_mtd

        raw = shared_mtd_raw() or next((p for p in [where / "mtd_raw"] if p.is_dir()), None)
        if (where / category).is_dir() or raw is not None:  # prepare, or redo an interrupted preparation
            ensure_mtd(where, raw)
    else:
        _check_prepared(dataset, str(category), where, Path(root).expanduser() if root is not None else data_root())
    hint = f"run `python data_scripts/download_{dataset}.py --root {data_root() if root is None else root}`"
    if not where.is_dir():
        raise DatasetNotFoundError(f"{dataset} not found at {where}; {hint}")
    if dataset in ("mtd", "mvtec_ad", "visa"):
        from .mvtec import MVTecAD

        return MVTecAD(where, category, split, **kwargs)
    if dataset == "mvtec_loco":
        from .loco import MVTecLOCO

        return MVTecLOCO(where, category, split, **kwargs)
    if dataset == "btad":
        from .btad import BTAD

        return BTAD(where, category, split, **kwargs)
    from .dagm import DAGM

    return DAGM(where, category, split, **kwargs)
