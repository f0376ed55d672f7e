"""VisA (Zou et al., ECCV 2022): raw layout → MVTec layout with the official 1cls split.

Raw: ``<cls>/Data/Images/{Normal,Anomaly}/*.JPG``, ``<cls>/Data/Masks/Anomaly/*.png`` and
``split_csv/1cls.csv`` (columns object, split, label, image, mask; paths relative to the raw
root). :func:`convert_visa` does what spot-diff ``utils/prepare_data.py --split-type 1cls`` does:
``<cls>/train/good``, ``<cls>/test/{good,bad}``, ``<cls>/ground_truth/bad/<stem>.png`` with masks
binarised to 0/255. Images are hard-linked (or copied), never re-encoded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from adlib.fileio import atomic_copy, atomic_write

from .errors import DataError, DatasetNotFoundError, MaskError
from .mvtec import MVTecAD
from .prepared import build, problem, read_manifest

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
    """Hard-link (when allowed) or copy ``src`` to the new file ``dst``."""
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
    conversion. Each category is built in a hidden folder and renamed when complete (with a file
    list, :mod:`adlib.data.prepared`); a complete one made from the same rows is skipped, an
    interrupted or damaged one is built again. Masks are written as ``<image stem>.png`` so they
    pair with their image by stem.
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
    jobs: dict[str, dict[str, tuple[Path, bool, str]]] = {}  # category → {dst inside it: (src, is_mask, line)}
    for r in rows:
        label = VISA_LABELS[r["label"]]
        img_dst = f"{r['split']}/{label}/{Path(r['image']).name}"
        todo = [(img_dst, raw_root / r["image"], False)]
        if r["split"] == "test" and label == "bad":
            todo.append((f"ground_truth/{label}/{Path(img_dst).stem}.png", raw_root / r["mask"], True))
        cat = jobs.setdefault(r["object"], {})
        for dst, src, is_mask in todo:
            rel = r["mask"] if is_mask else r["image"]
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DataError(f"{csv_path} line {r['line']}: path {rel!r} leaves the raw VisA folder {raw_root}; "
                                "paths must be relative to it (fix or re-download the split file)")
            if dst in cat and cat[dst][0] != src:
                raise DataError(f"{csv_path} lines {cat[dst][2]} and {r['line']} both map to "
                                f"{dst_root / r['object'] / dst}")
            if not src.is_file():
                what = "mask" if is_mask else "image"
                raise DatasetNotFoundError(f"VisA {what} listed in {csv_path} line {r['line']} not found: {src}")
            cat[dst] = (src, is_mask, r["line"])
    todo = {}
    for cat, cjobs in sorted(jobs.items()):
        key = hashlib.sha256(json.dumps(sorted((d, src.relative_to(raw_root).as_posix(), m) for d, (src, m, _) in
                                               cjobs.items())).encode()).hexdigest()[:16]
        if (read_manifest(dst_root / cat) or {}).get("jobs") != key or problem(dst_root / cat) is not None:
            todo[cat] = (cjobs, key)  # new, interrupted, damaged, or made from another split: (re)built whole
    with tqdm(total=sum(len(j) for j, _ in todo.values()), desc="converting VisA", disable=not progress or None,
              leave=False) as bar:
        for cat, (cjobs, key) in todo.items():
            build(dst_root / cat, lambda tmp, cjobs=cjobs: _convert_category(tmp, cjobs, link, bar), replace=True,
                  dataset="visa", jobs=key)
    return dst_root


def _convert_category(out: Path, jobs: dict[str, tuple[Path, bool, str]], link: bool, bar) -> None:
    for sub in ("train/good", "test/good", "test/bad", "ground_truth/bad"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for dst, (src, is_mask, _) in jobs.items():
        if is_mask:
            binarize_mask(src, out / dst)
        else:
            _place(src, out / dst, link)
        bar.update(1)


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
