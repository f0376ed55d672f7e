"""VisA (Zou et al., ECCV 2022): raw layout → MVTec layout with the official 1cls split.

Raw: ``<cls>/Data/Images/{Normal,Anomaly}/*.JPG``, ``<cls>/Data/Masks/Anomaly/*.png`` and
``split_csv/1cls.csv`` (columns object, split, label, image, mask; paths relative to the raw
root). :func:`convert_visa` does what spot-diff ``utils/prepare_data.py --split-type 1cls`` does:
``<cls>/train/good``, ``<cls>/test/{good,bad}``, ``<cls>/ground_truth/bad/<stem>.png`` with masks
binarised to 0/255. Images are hard-linked (or copied), never re-encoded.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from adlib.fileio import atomic_copy, atomic_write

from .errors import DataError, DatasetNotFoundError, MaskError
from .mvtec import MVTecAD

VISA_CATEGORIES = (
    "candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2",
    "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum",
)
CSV_COLUMNS = ("object", "split", "label", "image", "mask")
VISA_LABELS = {"normal": "good", "anomaly": "bad"}


def read_split_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a VisA split CSV, validated (columns, split and label values)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"VisA split file not found: {path} (expected split_csv/1cls.csv in the raw VisA folder)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if any(c not in header for c in CSV_COLUMNS):
            raise DataError(f"{path}: expected columns {list(CSV_COLUMNS)}, found {header}")
        rows = []
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if row["split"] not in ("train", "test"):
                raise DataError(f"{path} line {line}: split must be train/test, got {row['split']!r}")
            if row["label"] not in VISA_LABELS:
                raise DataError(f"{path} line {line}: label must be one of {list(VISA_LABELS)}, got {row['label']!r}")
            if row["label"] == "anomaly" and row["split"] == "test" and not row["mask"]:
                raise MaskError(f"{path} line {line}: anomalous test image {row['image']} has no mask path")
            row["line"] = str(line)
            rows.append(row)
    if not rows:
        raise DataError(f"{path} holds no rows")
    return rows


def binarize_mask(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Write ``src`` as an 8-bit PNG with every non-zero value set to 255 (spot-diff's rule)."""
    src, dst = Path(src), Path(dst)
    try:
        with Image.open(src) as img:
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MaskError(f"cannot read VisA mask {src}: {exc}") from exc
    if arr.ndim == 3:
        arr = arr.any(axis=2)
    img = Image.fromarray(np.where(arr != 0, 255, 0).astype(np.uint8), mode="L")
    atomic_write(dst, lambda tmp: img.save(tmp, format="PNG"))


def _place(src: Path, dst: Path, link: bool) -> None:
    """Hard-link (when allowed) or copy ``src`` to ``dst``; an up-to-date ``dst`` is kept."""
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return
    if dst.exists():
        dst.unlink()
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # other file system, no permission, ... → copy
    atomic_copy(src, dst)


def convert_visa(
    raw_root: str | os.PathLike,
    dst_root: str | os.PathLike,
    split_csv: str | os.PathLike | None = None,
    categories: str | Iterable[str] | None = None,
    progress: bool = True,
    link: bool = True,
) -> Path:
    """Convert raw VisA into the MVTec layout under ``dst_root`` (VisA 1cls split, spot-diff
    ``prepare_data.py --split-type 1cls``); returns ``dst_root``.

    ``split_csv`` defaults to ``raw_root/split_csv/1cls.csv``; ``categories`` restricts the
    conversion. Idempotent: files already in place are skipped, so an interrupted run can resume.
    Masks are written as ``<image stem>.png`` so they pair with their image by stem.
    """
    raw_root, dst_root = Path(raw_root), Path(dst_root)
    if not raw_root.is_dir():
        raise DatasetNotFoundError(f"raw VisA folder not found: {raw_root}")
    csv_path = Path(split_csv) if split_csv is not None else raw_root / "split_csv" / "1cls.csv"
    rows = read_split_csv(csv_path)
    in_csv = sorted({r["object"] for r in rows})
    if categories is not None:
        wanted = [categories] if isinstance(categories, str) else list(categories)
        missing = [c for c in wanted if c not in in_csv]
        if missing:
            raise DatasetNotFoundError(f"VisA categories {missing} not in {csv_path}; categories there: {in_csv}")
        rows = [r for r in rows if r["object"] in wanted]
    jobs: dict[Path, tuple[Path, bool, str]] = {}  # dst → (src, is_mask, csv line)
    for r in rows:
        label = VISA_LABELS[r["label"]]
        img_src = raw_root / r["image"]
        img_dst = dst_root / r["object"] / r["split"] / label / Path(r["image"]).name
        todo = [(img_dst, img_src, False)]
        if r["split"] == "test" and label == "bad":
            todo.append((dst_root / r["object"] / "ground_truth" / label / f"{img_dst.stem}.png", raw_root / r["mask"], True))
        for dst, src, is_mask in todo:
            if dst in jobs and jobs[dst][0] != src:
                raise DataError(f"{csv_path} lines {jobs[dst][2]} and {r['line']} both map to {dst}")
            if not src.is_file():
                what = "mask" if is_mask else "image"
                raise DatasetNotFoundError(f"VisA {what} listed in {csv_path} line {r['line']} not found: {src}")
            jobs[dst] = (src, is_mask, r["line"])
    for cat in sorted({r["object"] for r in rows}):
        for sub in ("train/good", "test/good", "test/bad", "ground_truth/bad"):
            (dst_root / cat / sub).mkdir(parents=True, exist_ok=True)
    for dst, (src, is_mask, _) in tqdm(jobs.items(), desc="converting VisA", disable=not progress or None, leave=False):
        if is_mask:
            if not dst.is_file():
                binarize_mask(src, dst)
        else:
            _place(src, dst, link)
    return dst_root


class VisA(MVTecAD):
    """One split of one VisA category after :func:`convert_visa` (same reader as MVTec AD)."""

    def __init__(self, root: str | os.PathLike, category: str, split: str = "train", **kwargs):
        root = Path(root)
        if not (root / category).is_dir() and (root / "1cls" / category).is_dir():
            root = root / "1cls"  # spot-diff writes to <save-folder>/1cls/
        if (root / category / "Data").is_dir() and not (root / category / split).is_dir():
            raise DatasetNotFoundError(
                f"{root / category} is the raw VisA layout; convert it first with "
                f"adlib.data.visa.convert_visa({str(root)!r}, <dst_root>)"
            )
        kwargs.setdefault("name", f"visa/{category}/{split}")
        super().__init__(root, category, split, **kwargs)
