"""Anomaly maps on disk: export a method's maps, and evaluate saved maps with adlib's metrics.

The layout is the one the official MVTec AD and MVTec LOCO evaluation scripts read, one float32
map per test image (higher = more anomalous):

    <maps_dir>/<category>/test/<defect folder>/<image stem>.tiff

:func:`export_maps` writes it (at the original image resolution by default, as those scripts
expect), so the official scripts can check adlib's numbers. :func:`evaluate_saved_maps` reads such
a folder — written by adlib or by another code base (EfficientAD, MHKD4AD and the MVTec scripts use
it) — and computes every adlib metric against the dataset's ground truth, with its protocol.
Reading also accepts ``.tif``, ``.npy`` and single-channel ``.png`` maps (ranking metrics only
need the order of the values).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from adlib.data.errors import DataError
from adlib.methods.common.maps import ImageScore
from adlib.metrics import metrics_to_dict
from adlib.metrics.spro import SPRO_FPR_LIMITS

from .env import environment_report, git_commit
from .evaluation import all_metrics
from .results import jsonable

MAP_SUFFIXES = (".tiff", ".tif", ".npy", ".png")
SCHEMA = "adlib.saved_maps_evaluation"
SCHEMA_VERSION = 1


class MapFileError(DataError):
    """A saved anomaly map is missing, unreadable or of the wrong shape."""


def map_relpath(image_path: str | os.PathLike, category: str) -> Path:
    """``<category>/test/<defect folder>/<stem>.tiff`` for a test image (the official scripts' layout)."""
    p = Path(image_path)
    return Path(category) / "test" / p.parent.name / f"{p.stem}.tiff"


def _relpaths(dataset, category: str | None) -> list[Path]:
    category = category or getattr(dataset, "category", None)
    if not category:
        raise ValueError("saved maps are filed under the category name: give category= (the dataset has none)")
    rel = [map_relpath(r.image_path, category) for r in dataset.records]
    seen: dict[Path, Path] = {}
    for r, p in zip(dataset.records, rel):
        if p in seen:
            raise MapFileError(f"{seen[p]} and {r.image_path} would share the map file {p}; "
                               "image names must be unique within a defect folder")
        seen[p] = Path(r.image_path)
    return rel


def read_map(path: str | os.PathLike) -> np.ndarray:
    """One saved map as a float32 H×W array (``.tiff``/``.tif``/``.png`` via PIL, ``.npy``)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as img:
                img.load()
                if img.mode not in ("F", "I", "I;16", "I;16B", "I;16L", "L"):
                    raise MapFileError(f"{path}: an anomaly map must be single-channel, got PIL mode {img.mode!r}")
                arr = np.asarray(img)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MapFileError(f"cannot read anomaly map {path}: {exc}") from exc
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim != 2:
        raise MapFileError(f"{path}: an anomaly map must be H×W, got shape {arr.shape}")
    return arr.astype(np.float32)


def write_map(path: str | os.PathLike, amap) -> Path:
    """Write one H×W map as a 32-bit float TIFF (what the official evaluation scripts read)."""
    arr = amap.detach().float().cpu().numpy() if isinstance(amap, torch.Tensor) else np.asarray(amap, np.float32)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"an anomaly map must be H×W, got shape {arr.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32), mode="F").save(path)
    return path


def _original_size(path: str | os.PathLike) -> tuple[int, int]:
    with Image.open(path) as img:  # reads the header only
        return img.height, img.width


def _resize(amap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(amap.shape[-2:]) == tuple(size):
        return amap
    return F.interpolate(amap[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]


def export_maps(maps, dataset, out_dir: str | os.PathLike, category: str | None = None,
                size: str | int | tuple[int, int] = "original", progress: bool = True) -> list[Path]:
    """Write ``maps`` (N×H×W in ``dataset`` order, e.g. ``EvalResult.maps``) as float32 TIFFs under
    ``out_dir`` in the official layout. ``size``: ``"original"`` (each image's size on disk,
    bilinear), an int / (H, W), or ``"as_is"``. Returns the written paths."""
    if len(maps) != len(dataset):
        raise ValueError(f"{len(maps)} maps for {len(dataset)} images")
    rel = _relpaths(dataset, category)
    out, written = Path(out_dir), []
    for i, rec in enumerate(tqdm(dataset.records, desc="writing maps", unit="map", disable=not progress, leave=False)):
        amap = torch.as_tensor(maps[i]).detach().float().cpu().squeeze()
        if size == "original":
            amap = _resize(amap, _original_size(rec.image_path))
        elif size != "as_is":
            amap = _resize(amap, (size, size) if isinstance(size, int) else tuple(size))
        written.append(write_map(out / rel[i], amap))
    return written


def find_map(maps_dir: str | os.PathLike, rel: Path) -> Path | None:
    """The saved map for ``rel`` (any of :data:`MAP_SUFFIXES`), or None."""
    for suffix in MAP_SUFFIXES:
        p = Path(maps_dir) / rel.with_suffix(suffix)
        if p.is_file():
            return p
    return None


def load_saved_maps(maps_dir: str | os.PathLike, dataset, category: str | None = None,
                    progress: bool = True) -> tuple[list[np.ndarray], list[Path]]:
    """The saved map of every image of ``dataset`` (in its order) and the files read; a missing
    map is an error that names how many are missing and where they were expected."""
    if not Path(maps_dir).is_dir():
        raise MapFileError(f"anomaly-map folder not found: {maps_dir}")
    rel = _relpaths(dataset, category)
    found = [find_map(maps_dir, r) for r in rel]
    missing = [r for r, f in zip(rel, found) if f is None]
    if missing:
        raise MapFileError(f"{len(missing)} of {len(rel)} anomaly maps missing under {maps_dir}, e.g. "
                           f"{', '.join(str(m) for m in missing[:3])} (any of {', '.join(MAP_SUFFIXES)})")
    maps = [read_map(f) for f in tqdm(found, desc="reading maps", unit="map", disable=not progress, leave=False)]
    return maps, found


def evaluate_saved_maps(maps_dir: str | os.PathLike, dataset: str, category: str, root=None,
                        resolution: str | int = "original", mask_interpolation: str = "nearest",
                        aupro_mode: str = "mvtec", fpr_limit: float = 0.3,
                        spro_fpr_limits: Sequence[float] = SPRO_FPR_LIMITS, progress: bool = True,
                        image_score="max") -> dict:
    """Every adlib metric of the maps saved under ``maps_dir`` against ``dataset``/``category``'s test
    ground truth (a dataset name of :func:`adlib.data.catalog.open_dataset` or a folder).

    ``resolution="original"`` (the official scripts): ground truth at its size on disk, maps resized
    to it bilinearly when they differ; an int N: ground truth resized to N×N (``mask_interpolation``)
    and maps to N×N. ``image_score``: the rule computing each image's score from its map at the
    evaluated resolution (``"max"``, ``"topk_mean:K"`` or an :class:`~adlib.methods.common.ImageScore`;
    recorded as ``protocol["image_score"]``). MVTec LOCO categories also get the logical /
    structural / mean image AUROC and AU-sPRO. Returns a JSON-ready dict whose ``protocol`` says all
    of this. Memory: about 30 bytes per evaluated pixel (measured: ``metrics.evaluate`` on 100 maps of
    1024² peaks at 3 GB and takes 6 s on 2 CPU cores)."""
    from adlib.data.catalog import open_dataset

    rule = ImageScore.parse(image_score)
    t0 = time.perf_counter()
    size = None if resolution == "original" else int(resolution)
    test = open_dataset(dataset, category, "test", root=root, image_size=size, normalize=None,
                        mask_interpolation=mask_interpolation)
    raw, files = load_saved_maps(maps_dir, test, category, progress)
    gt = [test.load_raw(i)[1:] for i in tqdm(range(len(test)), desc="reading ground truth", disable=not progress,
                                             leave=False)]  # (K×H×W mask values, original size); images dropped
    gt_sizes = {tuple(values.shape[-2:]) for values, _ in gt}
    if len(gt_sizes) > 1:
        raise MapFileError(f"{category}: test images of {len(gt_sizes)} different sizes {sorted(gt_sizes)[:4]}; "
                           "evaluate at one resolution (resolution=N)")
    hw = gt_sizes.pop()
    map_sizes = sorted({m.shape for m in raw})
    maps = torch.stack([_resize(torch.from_numpy(m), hw) for m in raw])
    del raw
    masks = torch.stack([(values > 0).any(0) for values, _ in gt])  # union of the GT files (none: all False)
    records = test.records
    labels = torch.tensor([int(r.label) for r in records])
    has_mask = torch.tensor([bool(r.has_mask) for r in records])
    defects = [r.defect for r in records]
    scores = rule(maps)
    t1 = time.perf_counter()
    loco = getattr(test, "multi_mask", False)  # MVTec LOCO: one mask per GT file, anomaly kinds
    results = all_metrics(maps, scores, labels, masks, defects, has_mask, aupro_mode=aupro_mode, fpr_limit=fpr_limit,
                          defects_config=getattr(test, "defects_config", None),
                          anomaly_kinds=[r.anomaly_kind or "good" for r in records] if loco else None,
                          loco_masks=[values for values, _ in gt], orig_sizes=[orig for _, orig in gt],
                          spro_fpr_limits=spro_fpr_limits)
    t2 = time.perf_counter()
    n_anom = int(labels.sum())
    return jsonable({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "maps_dir": str(Path(maps_dir).resolve()), "dataset": dataset, "category": category,
        "protocol": {"resolution": "original" if size is None else [size, size], "evaluated_at": list(hw),
                     "saved_map_sizes": [list(s) for s in map_sizes],
                     "maps_resized": "bilinear to the evaluated size" if map_sizes != [hw] else "no",
                     "mask_interpolation": None if size is None else mask_interpolation,
                     "image_score": str(rule), "aupro_mode": aupro_mode, "fpr_limit": fpr_limit,
                     "spro_fpr_limits": list(spro_fpr_limits) if "spro" in results else None},
        "metrics": metrics_to_dict(results),
        "counts": {"n_images": len(labels), "n_normal": len(labels) - n_anom, "n_anomalous": n_anom,
                   "per_defect": {d: defects.count(d) for d in sorted(set(defects))}},
        "files": {"n_maps": len(files), "suffixes": sorted({f.suffix.lower() for f in files})},
        "timings": {"read_s": round(t1 - t0, 3), "metrics_s": round(t2 - t1, 3)},
        "env": environment_report("cpu"), "git_commit": git_commit(),
    })
