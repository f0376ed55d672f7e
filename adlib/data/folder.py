"""A dataset from your own folders: ``root/good/*`` normal, every other sub-folder a defect type.

Layouts accepted (folder names configurable)::

    root/good/*, root/bad/*, [root/masks/...]                  one pool, optionally split by seed
    root/train/good/*, root/test/{good,bad}/*, [root/<mask_dir>/...]   explicit train/test

Masks are matched by stem (``<stem>.png`` or ``<stem>_mask.png``) in ``mask_dir/<defect>/`` or
``mask_dir/`` itself. Without ``mask_dir``, anomalous images are kept with ``has_mask=False``
(image-level metrics only). Sub-folders named like ``RESERVED_DIRS`` (``masks``, ``ground_truth``,
...) are never taken as defect types unless listed in ``abnormal_dirs``.

:func:`open_folder` is how a table config or :func:`adlib.data.catalog.open_dataset` opens a folder
(``dataset: /path/to/folder``): the MVTec layout or the one above, masks found by themselves,
a single pool split 80/20 with seed 0, and anomalous images without a mask allowed (pixel metrics
are then computed over the images that have one, or marked unavailable when none has).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Sequence


from .base import AnomalyDataset
from .errors import DatasetNotFoundError, MaskError
from .io import is_image_file, list_images
from .mvtec import find_mask
from .splits import seeded_split
from .schema import NORMAL, Record

FOLDER_SPLITS = ("train", "test", "all")
RESERVED_DIRS = ("train", "test", "ground_truth", "masks", "mask", "gt")  # never a defect type
MASK_DIRS = ("ground_truth", "masks", "mask", "gt")  # looked for by open_folder, in this order
POOL_SPLIT = (0.8, 0)  # open_folder's train fraction and seed for a single pool of normal images


def _images(folder: Path) -> list[Path]:
    """:func:`list_images`, with a warning naming the files skipped for their extension."""
    skipped = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                     and not is_image_file(p))
    if skipped:
        warnings.warn(f"{folder}: {len(skipped)} file(s) skipped, not an image extension: {', '.join(skipped[:5])}"
                      + (" ..." if len(skipped) > 5 else ""), stacklevel=3)
    return list_images(folder)


def split_normal_images(paths: Sequence[Path], split_ratio: float = 0.8, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Seeded random split of normal images into (train, test), ``split_ratio`` of them for training."""
    return seeded_split([Path(p) for p in paths], split_ratio, seed)


def _as_list(names: str | Sequence[str] | None) -> list[str] | None:
    return [names] if isinstance(names, str) else (list(names) if names is not None else None)


def folder_records(
    root: str | os.PathLike,
    split: str = "test",
    normal_dir: str = NORMAL,
    abnormal_dirs: str | Sequence[str] | None = None,
    mask_dir: str | os.PathLike | None = None,
    split_ratio: float | None = None,
    seed: int = 0,
    require_masks: bool = True,
) -> list[Record]:
    """Records of a user folder (see the module docstring).

    ``split``: ``train`` = normal images of the training part; ``test`` = the other normals plus
    every anomalous image; ``all`` = everything. With ``root/train`` and ``root/test`` folders they
    define the parts; otherwise ``split_ratio`` splits the normals by ``seed``, and without it
    both parts are the whole folder (``train`` = all normals, ``test`` = everything).
    With a ``mask_dir``, an anomalous image without a mask is an error unless ``require_masks`` is False.
    """
    if split not in FOLDER_SPLITS:
        raise ValueError(f"split must be one of {FOLDER_SPLITS}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(f"dataset folder not found: {root}")
    mdir = None
    if mask_dir is not None:
        mdir = Path(mask_dir) if Path(mask_dir).is_absolute() else root / mask_dir
        if not mdir.is_dir():
            raise DatasetNotFoundError(f"mask folder not found: {mdir}")
    has_splits = (root / "train").is_dir() or (root / "test").is_dir()
    if has_splits:
        if split_ratio is not None:
            raise ValueError(f"{root} already has train/test folders; split_ratio applies to a single pool only")
        bases = [root / s for s in (("train", "test") if split == "all" else (split,)) if (root / s).is_dir()]
        if not bases:
            raise DatasetNotFoundError(f"split folder not found: {root / split}")
    else:
        bases = [root]
    mask_chain = {mdir.resolve(), *mdir.resolve().parents} if mdir is not None else set()

    def is_defect_dir(p: Path) -> bool:
        return (p.is_dir() and not p.name.startswith(".") and p.resolve() not in mask_chain
                and p.name != normal_dir and p.name not in RESERVED_DIRS)

    records: list[Record] = []
    for base in bases:
        part = base.name if has_splits else split
        ndir = base / normal_dir
        if not ndir.is_dir():
            found = sorted(p.name for p in base.iterdir() if p.is_dir())
            raise DatasetNotFoundError(f"normal image folder not found: {ndir} (folders there: {found}; set normal_dir)")
        normals = _images(ndir)
        if not has_splits and split_ratio is not None and split != "all":
            train, test = split_normal_images(normals, split_ratio, seed)
            normals = train if split == "train" else test
        records += [Record(image_path=p, label=0, defect=NORMAL) for p in normals]
        if part == "train":
            continue  # the training part holds normal images only
        wanted = _as_list(abnormal_dirs)
        if wanted is None:
            wanted = sorted(p.name for p in base.iterdir() if is_defect_dir(p))
        for defect in wanted:
            ddir = base / defect
            if not ddir.is_dir():
                if abnormal_dirs is not None:
                    raise DatasetNotFoundError(f"anomalous image folder not found: {ddir}")
                continue
            for img in _images(ddir):
                masks: tuple[Path, ...] = ()
                if mdir is not None:
                    m = find_mask(mdir / defect, img.stem) if (mdir / defect).is_dir() else None
                    m = m or find_mask(mdir, img.stem)
                    if m is None and require_masks:
                        raise MaskError(f"no mask for anomalous image {img} in {mdir / defect} or {mdir} "
                                        "(looked for <stem>.<ext> and <stem>_mask.<ext>)")
                    masks = (m,) if m is not None else ()
                records.append(Record(image_path=img, label=1, defect=defect, mask_paths=masks))
    if not records:
        where = ", ".join(str(b) for b in bases)
        raise DatasetNotFoundError(f"split {split!r} of {root} holds no images (looked in {where}; normal folder {normal_dir!r})")
    return records


class FolderDataset(AnomalyDataset):
    """Your own images in folders (see :func:`folder_records` for the layouts and ``split``).

    Example: ``FolderDataset(root, normal_dir='good', abnormal_dir='bad', mask_dir=None, split='test')``;
    ``FolderDataset(root, split='train', split_ratio=0.8, seed=0)`` for a single pool of normals.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        normal_dir: str = NORMAL,
        abnormal_dirs: str | Sequence[str] | None = None,
        mask_dir: str | os.PathLike | None = None,
        split_ratio: float | None = None,
        seed: int = 0,
        abnormal_dir: str | None = None,
        require_masks: bool = True,
        **kwargs,
    ):
        if abnormal_dir is not None:
            if abnormal_dirs is not None:
                raise ValueError("give abnormal_dir or abnormal_dirs, not both")
            abnormal_dirs = abnormal_dir
        self.root = Path(root)
        self.split = split
        self.split_ratio = split_ratio
        self.seed = seed
        self.split_seed = seed if split_ratio is not None else None
        records = folder_records(root, split, normal_dir, abnormal_dirs, mask_dir, split_ratio, seed, require_masks)
        kwargs.setdefault("name", f"{self.root.name}/{split}")
        kwargs.setdefault("allow_missing_masks", mask_dir is None or not require_masks)
        super().__init__(records, **kwargs)


def folder_of(path: str | os.PathLike, category: str | None) -> Path:
    """The images folder of a path dataset: ``path/category`` (``path`` itself when ``category`` is None)."""
    base = Path(path).expanduser()
    if base.exists() and not base.is_dir():
        raise DatasetNotFoundError(f"dataset {base} is a file, not a folder: give the folder that holds the images")
    if category is not None and not is_safe_name(str(category)):
        raise ValueError(f"category {category!r} must be a plain folder name (no '/', '..' or leading '.')")
    cdir = base / category if category is not None else base
    if not cdir.is_dir():
        found = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []
        raise DatasetNotFoundError(f"dataset folder not found: {cdir}"
                                   + (f" (folders in {base}: {found})" if base.is_dir() else ""))
    return cdir


def open_folder(path: str | os.PathLike, category: str | None = None, split: str = "test", **kwargs) -> AnomalyDataset:
    """A folder of your images as a dataset (see the module docstring): the MVTec layout
    (``train/good``, ``test/<defect>``, ``ground_truth/<defect>/<stem>_mask.png``) or
    ``good/`` + defect folders (+ ``masks/`` or ``ground_truth/``), split :data:`POOL_SPLIT`."""
    cdir = folder_of(path, category)
    kwargs.setdefault("allow_missing_masks", True)
    if (cdir / "train").is_dir() or (cdir / "test").is_dir():
        from .mvtec import MVTecAD

        return MVTecAD(cdir.parent, cdir.name, split, **kwargs)
    mask_dir = next((d for d in MASK_DIRS if (cdir / d).is_dir()), None)
    return FolderDataset(cdir, split, mask_dir=mask_dir, split_ratio=POOL_SPLIT[0], seed=POOL_SPLIT[1],
                         require_masks=False, **kwargs)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_safe_name(name: str) -> bool:
    """True for a single path component that stays where it is put (no separator, ``..``, NUL, leading ``.``)."""
    return bool(name) and name == name.strip() and not name.startswith(".") and not any(c in name for c in "/\\\0")


def folder_key(path: str | os.PathLike) -> str:
    """A results-folder name for a path dataset: its name made safe + 8 hex digits of its absolute path
    (``My Parts`` → ``My_Parts-1a2b3c4d``), so two folders of one name never share results."""
    full = os.path.abspath(os.path.expanduser(os.fspath(path)))
    slug = _UNSAFE.sub("_", os.path.basename(full.rstrip(os.sep))).strip("._") or "folder"
    return f"{slug[:60]}-{hashlib.sha256(full.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
