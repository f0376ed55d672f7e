"""MVTec AD layout: ``<root>/<category>/{train,test}/<defect>/*`` + ``ground_truth/<defect>/<stem>_mask.png``.

Synthetic categories, prepared MTD, converted VisA and BTAD use this same layout.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import AnomalyDataset
from .errors import DatasetNotFoundError
from .io import IMAGE_EXTENSIONS, list_images
from .schema import NORMAL, Record

MVTEC_AD_CATEGORIES = (
    "bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper",
)
MASK_SUFFIXES = ("_mask", "")


def list_categories(root: str | os.PathLike) -> list[str]:
    """Category folders under ``root`` (those holding a ``train`` or ``test`` folder)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and ((p / "train").is_dir() or (p / "test").is_dir()))


def category_dir(root: str | os.PathLike, category: str, hint: str = "") -> Path:
    """``root/category``, or a :class:`DatasetNotFoundError` that lists what is there."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(f"dataset root not found: {root}" + (f" ({hint})" if hint else ""))
    cdir = root / category
    if not cdir.is_dir():
        found = list_categories(root)
        raise DatasetNotFoundError(
            f"category {category!r} not found in {root}; categories there: {found or 'none'}"
            + (f" ({hint})" if hint else "")
        )
    return cdir


def find_mask(gt_dir: Path, stem: str) -> Path | None:
    """``<stem>_mask.<ext>`` (MVTec) or ``<stem>.<ext>`` (VisA/BTAD conversions) in ``gt_dir``."""
    for suffix in MASK_SUFFIXES:
        for ext in IMAGE_EXTENSIONS:
            for cand in (gt_dir / f"{stem}{suffix}{ext}", gt_dir / f"{stem}{suffix}{ext.upper()}"):
                if cand.is_file():
                    return cand
    return None


def mvtec_records(root: str | os.PathLike, category: str, split: str = "train", hint: str = "") -> list[Record]:
    """Records of one split of one category in the MVTec AD layout.

    Folder ``good`` is normal (label 0); any other folder is a defect type (label 1) whose masks
    are looked up in ``ground_truth/<defect>/`` (missing masks are left empty for the dataset
    to report).
    """
    cdir = category_dir(root, category, hint)
    sdir = cdir / split
    if not sdir.is_dir():
        splits = sorted(p.name for p in cdir.iterdir() if p.is_dir())
        raise DatasetNotFoundError(f"split folder not found: {sdir} (folders there: {splits})")
    records: list[Record] = []
    for ddir in sorted(p for p in sdir.iterdir() if p.is_dir()):
        defect = ddir.name
        label = 0 if defect == NORMAL else 1
        for img in list_images(ddir):
            masks: tuple[Path, ...] = ()
            if label:
                m = find_mask(cdir / "ground_truth" / defect, img.stem)
                masks = (m,) if m is not None else ()
            records.append(Record(image_path=img, label=label, defect=defect, mask_paths=masks))
    if not records:
        raise DatasetNotFoundError(f"split {split!r} of {cdir} holds no images (looked in {sdir}/<defect>/)")
    return records


class MVTecAD(AnomalyDataset):
    """One split of one category in the MVTec AD layout (also synthetic, MTD, VisA, BTAD)."""

    def __init__(self, root: str | os.PathLike, category: str, split: str = "train", **kwargs):
        self.root = Path(root)
        self.category = category
        self.split = split
        kwargs.setdefault("name", f"{category}/{split}")
        super().__init__(mvtec_records(root, category, split), **kwargs)
