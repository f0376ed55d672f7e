"""DAGM 2007 (weakly supervised optical inspection), read in place.

Layout: ``Class1..Class10/{Train,Test}/*.PNG`` with ``<split>/Label/Labels.txt`` (a header line,
then rows ``id, defect flag 0/1, image file, 0, label file``) and weak elliptical masks
``Label/<stem>_label.PNG``. DAF protocol [P-DAF §IV.A.1]: train on the non-defective ``Train``
images only; test on every ``Test`` image, labelled from ``Labels.txt``, image-level (the masks
are coarse ellipses: records carry ``extra={'weak_mask': True}``). Grayscale → RGB happens in io.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import AnomalyDataset
from .errors import DataError, DatasetNotFoundError
from .schema import NORMAL, Record

DAGM_CATEGORIES = tuple(f"Class{i}" for i in range(1, 11))
DAGM_SPLITS = {"train": "Train", "test": "Test"}
DEFECT = "defect"


def dagm_class_dir(root: str | os.PathLike, category: str | int) -> Path:
    """``root/ClassN`` (``N`` or ``"ClassN"``); accepts the doubly nested ``ClassN/ClassN`` of some mirrors."""
    root = Path(root)
    name = f"Class{int(category)}" if str(category).isdigit() else str(category)
    if not root.is_dir():
        raise DatasetNotFoundError(f"DAGM 2007 root not found: {root}")
    cdir = root / name
    if not cdir.is_dir():
        found = sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("Class")),
                       key=lambda n: (len(n), n))
        raise DatasetNotFoundError(f"DAGM class {name!r} not found in {root}; classes there: {found or 'none'}")
    if not (cdir / "Train").is_dir() and not (cdir / "Test").is_dir() and (cdir / name).is_dir():
        cdir = cdir / name
    return cdir


def read_labels(path: str | os.PathLike) -> list[tuple[str, int, str | None]]:
    """Rows of a DAGM ``Labels.txt`` as ``(image file, defect flag, label file or None)``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"DAGM label file not found: {path}")
    rows = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3 or parts[1] not in ("0", "1"):
            if n == 1:
                continue  # header line
            raise DataError(f"{path} line {n}: expected 'id flag image 0 label', got {line!r}")
        flag = int(parts[1])
        label_file = parts[4] if flag and len(parts) >= 5 and parts[4] != "0" else None
        rows.append((parts[2], flag, label_file))
    if not rows:
        raise DataError(f"{path} lists no images")
    return rows


def dagm_records(root: str | os.PathLike, category: str | int = "Class1", split: str = "train",
                 weak_masks: bool = True) -> list[Record]:
    """Records of DAGM ``split``: ``train`` = non-defective Train images; ``test`` = all Test images."""
    if split not in DAGM_SPLITS:
        raise ValueError(f"DAGM split must be one of {tuple(DAGM_SPLITS)}, got {split!r}")
    sdir = dagm_class_dir(root, category) / DAGM_SPLITS[split]
    if not sdir.is_dir():
        raise DatasetNotFoundError(f"DAGM split folder not found: {sdir}")
    label_dir = sdir / "Label"
    records: list[Record] = []
    for image_name, flag, label_file in read_labels(label_dir / "Labels.txt"):
        if split == "train" and flag:
            continue
        img = sdir / image_name
        if not img.is_file():
            raise DatasetNotFoundError(f"image {img} listed in {label_dir / 'Labels.txt'} not found")
        masks: tuple[Path, ...] = ()
        if flag and weak_masks:
            cands = ([label_dir / label_file] if label_file else []) + [label_dir / f"{img.stem}_label{img.suffix}"]
            masks = tuple(c for c in cands if c.is_file())[:1]
        records.append(Record(image_path=img, label=flag, defect=DEFECT if flag else NORMAL, mask_paths=masks,
                              extra={"weak_mask": True} if masks else {}))
    if not records:
        raise DatasetNotFoundError(f"DAGM split {split!r} in {sdir} holds no usable images")
    return records


class DAGM(AnomalyDataset):
    """One class of DAGM 2007; ``weak_masks=False`` drops the elliptical masks (image-level only,
    ``has_mask=False`` for defective images). Defective images without a label file are allowed."""

    def __init__(self, root: str | os.PathLike, category: str | int = "Class1", split: str = "train",
                 weak_masks: bool = True, **kwargs):
        records = dagm_records(root, category, split, weak_masks)
        self.root = Path(root)
        self.category = f"Class{int(category)}" if str(category).isdigit() else str(category)
        self.split = split
        self.weak_masks = weak_masks
        kwargs.setdefault("name", f"dagm/{self.category}/{split}")
        kwargs.setdefault("allow_missing_masks", True)
        super().__init__(records, **kwargs)
