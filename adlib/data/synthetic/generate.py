"""Write synthetic categories to disk in the exact MVTec AD / MVTec LOCO AD folder layouts.

Each category folder gets a ``synthetic.json`` holding the generator version, seed and counts;
a folder generated with the same parameters is reused as is, one with other parameters raises
:class:`SyntheticParamsError` unless ``overwrite=True``. Categories are written to a hidden
temporary folder and renamed into place when complete, so an interrupted run leaves no half
category behind; a category whose files no longer match its file list is generated again.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ...paths import data_root
from ..errors import DataError
from ..prepared import build, problem
from ..schema import NORMAL
from .loco import defects_config
from .registry import ALL_CATEGORIES, CategoryInfo, category_info
from .render import loco_test_plan, render_loco_sample, render_sample

GENERATOR_VERSION = "1.0"
META_FILE = "synthetic.json"
ENV_VAR = "ADLIB_DATA"
MIN_IMAGE_SIZE = 32


class SyntheticParamsError(DataError, FileExistsError):
    """A category folder exists but was not generated with the requested parameters."""


def default_root() -> Path:
    """``$ADLIB_DATA/synthetic`` if ``ADLIB_DATA`` is set, else ``~/.cache/adlib/data/synthetic``."""
    return data_root() / "synthetic"


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value}")
    return int(value)


def _resolve_categories(categories) -> list[str]:
    if categories is None:
        return list(ALL_CATEGORIES)
    if isinstance(categories, str):
        categories = [categories]
    names = list(dict.fromkeys(categories))  # keep order, drop repeats
    if not names:
        raise ValueError(f"categories is empty; pick some of {list(ALL_CATEGORIES)} or pass None for all")
    for name in names:
        category_info(name)  # ValueError listing the known names
    return names


def category_params(info: CategoryInfo, seed: int, image_size: int, n_train: int, n_test_good: int,
                    n_test_defect: int, n_validation: int) -> dict:
    """The parameters that determine a category's files (what ``synthetic.json`` is compared on)."""
    params = {"version": GENERATOR_VERSION, "seed": seed, "image_size": image_size, "n_train": n_train,
              "n_test_good": n_test_good, "n_test_defect": n_test_defect}
    if info.kind == "loco":
        params["n_validation"] = n_validation
    return params


def _existing_state(cdir: Path, params: dict) -> str:
    """``"missing"``, ``"same"``, or raise :class:`SyntheticParamsError` describing the mismatch."""
    if not cdir.exists():
        return "missing"
    meta_path = cdir / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        old = meta["params"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SyntheticParamsError(
            f"{cdir} exists but has no valid {META_FILE}, so it was not written by this generator (or is "
            "damaged); pass overwrite=True to replace it, or use another root"
        ) from None
    if old == params:
        return "same"
    diff = ", ".join(f"{k}: {old.get(k)!r} on disk vs {params.get(k)!r} requested"
                     for k in sorted(set(old) | set(params)) if old.get(k) != params.get(k))
    raise SyntheticParamsError(f"{cdir} was generated with other parameters ({diff}); pass overwrite=True "
                               "to regenerate it, or use another root")


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _name(i: int, n: int) -> str:
    return f"{i:0{max(3, len(str(n - 1)))}d}"


def _write_mvtec(cdir: Path, info: CategoryInfo, p: dict, bar) -> dict:
    jobs = [("train", NORMAL, i, p["n_train"]) for i in range(p["n_train"])]
    jobs += [("test", NORMAL, i, p["n_test_good"]) for i in range(p["n_test_good"])]
    jobs += [("test", d, i, p["n_test_defect"]) for d in info.defects for i in range(p["n_test_defect"])]
    for split, defect, i, n in jobs:
        _, image, mask = render_sample(info.name, i, defect, split, p["seed"], p["image_size"])
        stem = _name(i, n)
        _save_png(cdir / split / defect / f"{stem}.png", image)
        if defect != NORMAL:
            if not mask.any():
                raise RuntimeError(f"synthetic generator produced an empty mask for {info.name}/{defect}/{stem}")
            _save_png(cdir / "ground_truth" / defect / f"{stem}_mask.png", mask.astype(np.uint8) * 255)
        bar.update(1)
    return {}


def _write_loco(cdir: Path, info: CategoryInfo, p: dict, bar) -> dict:
    """Write a LOCO category; returns ``{"test_defect_types": {"<folder>/<stem>.png": type}}`` for the metadata."""
    for split, n in (("train", p["n_train"]), ("validation", p["n_validation"]), ("test", p["n_test_good"])):
        for i in range(n):
            _, image, _ = render_loco_sample(info.name, i, NORMAL, split, p["seed"], p["image_size"])
            _save_png(cdir / split / NORMAL / f"{_name(i, n)}.png", image)
            bar.update(1)
    plan = loco_test_plan(info.name, p["n_test_defect"])
    totals = {f: sum(1 for g, _, _ in plan if g == f) for f, _, _ in plan}
    counters: dict[str, int] = {}
    types = {}
    for folder, defect, i in plan:
        k = counters[folder] = counters.get(folder, -1) + 1
        n = totals[folder]
        _, image, instances = render_loco_sample(info.name, i, defect, "test", p["seed"], p["image_size"])
        stem = _name(k, n)
        _save_png(cdir / "test" / folder / f"{stem}.png", image)
        types[f"{folder}/{stem}.png"] = defect
        if not instances or not all(m.any() for _, _, m in instances):
            raise RuntimeError(f"synthetic generator produced an empty mask for {info.name}/{folder}/{stem}")
        for j, (_, value, mask) in enumerate(instances):
            _save_png(cdir / "ground_truth" / folder / stem / f"{j:03d}.png", mask.astype(np.uint8) * np.uint8(value))
        bar.update(1)
    config = json.dumps(defects_config(p["image_size"]), indent=2)
    (cdir / "defects_config.json").write_text(config + "\n", encoding="utf-8")
    return {"test_defect_types": types}


def count_images(category: str, n_train: int = 40, n_test_good: int = 10, n_test_defect: int = 6,
                 n_validation: int = 10) -> int:
    """Number of images :func:`generate` writes for ``category`` with these counts."""
    info = category_info(category)
    n = n_train + n_test_good + n_test_defect * len(info.defects)
    return n + (n_validation if info.kind == "loco" else 0)


def generate(root: str | os.PathLike, categories: str | Iterable[str] | None = None, seed: int = 0,
             image_size: int = 128, n_train: int = 40, n_test_good: int = 10, n_test_defect: int = 6,
             n_validation: int = 10, overwrite: bool = False, progress: bool = True) -> dict[str, Path]:
    """Write synthetic categories under ``root`` and return ``{category: folder}``.

    Args:
        root: parent folder; each category becomes ``root/<category>``.
        categories: a name, a list of names, or ``None`` for all (MVTec AD and LOCO layouts).
        seed: base seed; the same seed gives byte-identical PNGs.
        image_size: side of the square images in pixels (>= 32).
        n_train, n_test_good: normal images in ``train`` and ``test``.
        n_test_defect: test images per defect type.
        n_validation: ``validation/good`` images (LOCO categories only).
        overwrite: regenerate folders that exist (with any parameters) instead of reusing/raising.
        progress: show a ``tqdm`` bar over the images written.
    """
    names = _resolve_categories(categories)
    seed = _check_int("seed", seed, 0)
    image_size = _check_int("image_size", image_size, MIN_IMAGE_SIZE)
    counts = {k: _check_int(k, v, 1) for k, v in (("n_train", n_train), ("n_test_good", n_test_good),
                                                    ("n_test_defect", n_test_defect), ("n_validation", n_validation))}
    root = Path(root).expanduser()
    todo = []
    for name in names:
        info = category_info(name)
        params = category_params(info, seed, image_size, **counts)
        state = "missing" if overwrite else _existing_state(root / name, params)
        why = problem(root / name) if state == "same" else None
        if why is not None:
            warnings.warn(f"synthetic category {root / name} is incomplete or damaged ({why}); generating it again",
                          stacklevel=2)
        if overwrite or state == "missing" or why is not None:
            todo.append((info, params, overwrite or why is not None))
    total = sum(count_images(info.name, **counts) for info, _, _ in todo)
    with tqdm(total=total, desc="synthetic data", unit="img", disable=(not progress or not total) or None) as bar:
        for info, params, replace in todo:
            bar.set_postfix_str(info.name)
            _write_category(root, info, params, replace, bar)
    return {name: root / name for name in names}


def _write_category(root: Path, info: CategoryInfo, params: dict, replace: bool, bar) -> None:
    """Write one category through :func:`adlib.data.prepared.build` (hidden folder, file list, rename);
    ``replace``: the folder there is replaced (``overwrite``, or damaged); else one another process
    finished first is kept."""

    def fill(tmp: Path) -> None:
        extra = (_write_loco if info.kind == "loco" else _write_mvtec)(tmp, info, params, bar)
        meta = {"generator": "adlib.data.synthetic", "category": info.name, "kind": info.kind,
                "layout": info.layout, "defects": list(info.defects), "params": params, **extra}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    build(root / info.name, fill, replace=replace, dataset="synthetic")


def ensure_synthetic(root: str | os.PathLike | None = None, **kwargs) -> Path:
    """Generate the synthetic data under ``root`` (default :func:`default_root`) unless already there.

    Keyword arguments go to :func:`generate`; returns the root folder.
    """
    root = default_root() if root is None else Path(root).expanduser()
    generate(root, **kwargs)
    return root
