"""BTAD (beanTech AD, Mishra et al., VT-ADL 2021), read in place from the extracted archive.

Layout: ``BTech_Dataset_transformed/{01,02,03}/{train/ok, test/ok, test/ko, ground_truth/ko}``.
``ok`` is normal (defect ``good``), ``ko`` anomalous. Formats differ per product (01: .bmp images
+ .png masks; 02: .png + .png; 03: .bmp + .bmp), so masks are matched by stem whatever the
extension. Protocol: the official train/test split (MRKD, DM-GRD).
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import AnomalyDataset
from .errors import DatasetNotFoundError
from .io import list_images
from .mvtec import category_dir, find_mask
from .schema import NORMAL, Record

BTAD_CATEGORIES = ("01", "02", "03")
BTAD_FOLDER = "BTech_Dataset_transformed"
BTAD_SPLITS = {"train": ("ok",), "test": ("ok", "ko")}


def btad_root(root: str | os.PathLike) -> Path:
    """``root/BTech_Dataset_transformed`` if present, else ``root`` itself."""
    root = Path(root)
    return root / BTAD_FOLDER if (root / BTAD_FOLDER).is_dir() else root


def btad_records(root: str | os.PathLike, category: str | int, split: str = "train") -> list[Record]:
    """Records of one split of one BTAD product (``"01"``, ``"02"``, ``"03"``; ints accepted)."""
    if split not in BTAD_SPLITS:
        raise ValueError(f"BTAD split must be one of {tuple(BTAD_SPLITS)}, got {split!r}")
    category = f"{int(category):02d}" if str(category).isdigit() else str(category)
    cdir = category_dir(btad_root(root), category, hint=f"BTAD: pass the folder holding {BTAD_FOLDER}/ or that folder")
    records: list[Record] = []
    for folder in BTAD_SPLITS[split]:
        ddir = cdir / split / folder
        if not ddir.is_dir():
            if folder == "ok" and split == "train":
                raise DatasetNotFoundError(f"BTAD training folder not found: {ddir}")
            continue
        label = int(folder == "ko")
        for img in list_images(ddir):
            masks: tuple[Path, ...] = ()
            if label:
                m = find_mask(cdir / "ground_truth" / folder, img.stem)
                masks = (m,) if m is not None else ()
            records.append(Record(image_path=img, label=label, defect=NORMAL if folder == "ok" else folder,
                                  mask_paths=masks))
    if not records:
        raise DatasetNotFoundError(f"BTAD split {split!r} of {cdir} holds no images (looked in {cdir / split}/{{ok,ko}}/)")
    return records


class BTAD(AnomalyDataset):
    """One split (train / test) of one BTAD product; anomalous images without a mask raise ``MaskError``."""

    def __init__(self, root: str | os.PathLike, category: str | int, split: str = "train", **kwargs):
        self.root = btad_root(root)
        records = btad_records(root, category, split)
        self.category = records[0].image_path.parents[2].name
        self.split = split
        kwargs.setdefault("name", f"btad/{self.category}/{split}")
        super().__init__(records, **kwargs)
