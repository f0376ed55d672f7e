"""Magnetic Tile Defect (MTD) → MVTec layout, with the protocol of the MRKD paper (§4.1).

Raw layout (github.com/abin24/Magnetic-tile-defect-datasets.): ``MT_<Type>/Imgs/<stem>.jpg``
(grayscale, varying sizes) with ``<stem>.png`` pixel masks. ``MT_Free`` holds normal images; the
other five folders hold defects. Protocol (from DifferNet, used by MRKD): a seeded random 80 % of
normal images for training, the other 20 % plus every defective image for testing. The split is
not published, so adlib fixes it by seed and writes the file lists to ``split.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .errors import DatasetNotFoundError, MaskError
from .prepared import build, ensure, problem, read_manifest
from .io import read_image, read_mask_values
from .splits import seeded_split

MTD_NORMAL = "MT_Free"
MTD_DEFECTS = {
    "MT_Blowhole": "blowhole",
    "MT_Break": "break",
    "MT_Crack": "crack",
    "MT_Fray": "fray",
    "MT_Uneven": "uneven",
}
MASK_THRESHOLD = 127  # raw masks are 0/255 with JPEG-like edge noise
SPLIT_FILE = "split.json"


def _pairs(folder: Path) -> list[tuple[Path, Path]]:
    imgs = folder / "Imgs"
    if not imgs.is_dir():
        raise DatasetNotFoundError(f"MTD folder without Imgs/: {imgs}")
    pairs = []
    for jpg in sorted(p for p in imgs.iterdir() if p.suffix.lower() == ".jpg"):
        png = jpg.with_suffix(".png")
        if not png.is_file():
            raise MaskError(f"MTD image {jpg} has no mask {png.name} beside it")
        pairs.append((jpg, png))
    if not pairs:
        raise DatasetNotFoundError(f"no .jpg images in {imgs}")
    return pairs


def find_mtd_root(src: str | os.PathLike) -> Path:
    """The folder holding ``MT_Free`` (``src`` itself or one level below, as the GitHub zip extracts)."""
    src = Path(src)
    if not src.is_dir():
        raise DatasetNotFoundError(f"MTD source folder not found: {src}")
    for cand in (src, *sorted(p for p in src.iterdir() if p.is_dir())):
        if (cand / MTD_NORMAL).is_dir():
            return cand
    raise DatasetNotFoundError(
        f"no {MTD_NORMAL}/ folder in {src} (expected the raw MTD layout MT_Free/, MT_Blowhole/, ...)"
    )


def split_normals(stems: list[str], seed: int = 0, train_fraction: float = 0.8) -> tuple[list[str], list[str]]:
    """Seeded random split of normal image stems into (train, test); order-independent."""
    return seeded_split(stems, train_fraction, seed)


def _write_image(src: Path, dst: Path, size: int | None) -> None:
    if size is None:
        shutil.copyfile(src, dst.with_suffix(src.suffix.lower()))
        return
    img = read_image(src).convert("L")  # MTD is grayscale; RGB conversion happens at load time
    img.resize((size, size), Image.BILINEAR).save(dst.with_suffix(".png"))


def _write_mask(src: Path, dst: Path, image: Path, size: int | None) -> int:
    values = read_mask_values(src)
    with Image.open(image) as im:
        if values.shape != (im.height, im.width):
            raise MaskError(f"mask {src} is {values.shape} (H×W) but its image {image} is {(im.height, im.width)}")
    mask = Image.fromarray(np.where(values > MASK_THRESHOLD, 255, 0).astype(np.uint8))
    if size is not None:
        mask = mask.resize((size, size), Image.NEAREST)
    mask.save(dst)
    return int((np.asarray(mask) > 0).sum())


def prepare_mtd(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    size: int | None = None,
    seed: int = 0,
    train_fraction: float = 0.8,
    category: str = "mtd",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Convert raw MTD into ``<dst>/<category>/`` in the MVTec layout; returns the category folder.

    ``size`` resizes images (bilinear, saved as PNG) and masks (nearest) to size×size for a
    compact copy; ``None`` copies the original JPEGs. Masks are binarised at 127 to 0/255.
    Re-running with the same arguments is a no-op; other arguments need ``overwrite=True``.
    """
    root = find_mtd_root(src)
    out = Path(dst) / category
    params = {"seed": seed, "train_fraction": train_fraction, "size": size, "source": str(root.resolve())}
    if out.exists():
        try:
            old = json.loads((out / SPLIT_FILE).read_text()).get("params", {})
        except (OSError, ValueError, AttributeError):
            old = None
        same = old is not None and {k: old.get(k) for k in params if k != "source"} == {
            k: v for k, v in params.items() if k != "source"}
        if same and problem(out) is None:
            return out
        if old is not None and not same and not overwrite:
            raise FileExistsError(f"{out} was prepared with other settings {old}; pass overwrite=True")
        if old is None and read_manifest(out) is None and not overwrite:
            raise FileExistsError(f"{out} exists but has no {SPLIT_FILE}: another dataset, or an unfinished "
                                  "preparation of an older adlib. Delete it, or pass overwrite=True to prepare MTD "
                                  "there")
        # the same settings but files missing: an interrupted or damaged preparation, redone below
    return build(out, lambda tmp: _prepare_into(root, tmp, params, progress), replace=True, dataset="mtd")


def ensure_mtd(root: str | os.PathLike, raw: str | os.PathLike | None, size: int | None = 256) -> None:
    """Check ``root/mtd`` against its file list; (re)prepare it from ``raw`` with its recorded settings
    (``size`` for a new one), or raise :class:`~adlib.data.prepared.DatasetIncompleteError` without ``raw``."""
    root = Path(root)
    out = root / "mtd"
    try:
        params = json.loads((out / SPLIT_FILE).read_text())["params"]
        kwargs = {k: params[k] for k in ("size", "seed", "train_fraction")}
    except (OSError, ValueError, KeyError, TypeError):
        kwargs = {"size": size}
    redo = None if raw is None else (lambda: prepare_mtd(raw, root, progress=False, overwrite=True, **kwargs))
    ensure(out, redo, "MTD", f"Prepare it again: `adlib data prepare --root {root} --mtd-src <raw MTD folder>`, or "
                             f"`python data_scripts/download_mtd.py --root {root}` (or delete {out})")


def incomplete_mtd(folder: str | os.PathLike) -> str | None:
    """Why a prepared MTD folder is not complete (see :func:`adlib.data.prepared.problem`), or ``None``."""
    return problem(folder)


def _prepare_into(root: Path, out: Path, params: dict, progress: bool) -> None:
    """Write the converted dataset into ``out`` (a fresh folder) with ``params`` (seed, train_fraction,
    size, source), ``split.json`` last."""
    seed, train_fraction, size = params["seed"], params["train_fraction"], params["size"]
    split_path = out / SPLIT_FILE
    normal = _pairs(root / MTD_NORMAL)
    train_stems, test_stems = split_normals([j.stem for j, _ in normal], seed, train_fraction)
    train_set = set(train_stems)
    jobs = [(j, None, "train" if j.stem in train_set else "test", "good") for j, _ in normal]
    for folder, defect in MTD_DEFECTS.items():
        if not (root / folder).is_dir():
            raise DatasetNotFoundError(f"MTD defect folder missing: {root / folder}")
        jobs += [(j, m, "test", defect) for j, m in _pairs(root / folder)]

    empty_masks = []
    for jpg, png, split, defect in tqdm(jobs, desc="preparing MTD", disable=not progress or None):
        d = out / split / defect
        d.mkdir(parents=True, exist_ok=True)
        _write_image(jpg, d / jpg.stem, size)
        if png is not None:
            g = out / "ground_truth" / defect
            g.mkdir(parents=True, exist_ok=True)
            if _write_mask(png, g / f"{jpg.stem}_mask.png", jpg, size) == 0:
                empty_masks.append(f"{defect}/{jpg.stem}")

    counts = {"train/good": len(train_stems), "test/good": len(test_stems)}
    for defect in MTD_DEFECTS.values():
        counts[f"test/{defect}"] = sum(1 for j in jobs if j[3] == defect)
    split_path.write_text(json.dumps({
        "dataset": "MTD (Magnetic Tile Defect, Huang et al. 2018)",
        "protocol": "MRKD/DifferNet: seeded random train_fraction of MT_Free for training; rest + all defects for test",
        "params": params,
        "counts": counts,
        "train_good": train_stems,
        "test_good": test_stems,
        "defective_with_empty_mask": empty_masks,
    }, indent=1))
