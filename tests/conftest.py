"""Shared fixtures: tiny on-disk datasets written with PIL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def load_script(relpath: str):
    """A script of the checkout that is not part of the package (``tools/``, ``benchmarks/``, ``data_scripts/``),
    imported as a module: ``load_script("tools/mtd_methods.py")``."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def make_mvtec_category(root: Path, category: str = "widget", size: int = 24, n_train: int = 3,
                        n_good: int = 2, defects: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A tiny MVTec-layout category; each defect image has a square mask."""
    rng = np.random.default_rng(seed)
    defects = {"scratch": 2} if defects is None else defects
    cdir = root / category
    for i in range(n_train):
        write_png(cdir / "train" / "good" / f"{i:03d}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    for i in range(n_good):
        write_png(cdir / "test" / "good" / f"{i:03d}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    for defect, n in defects.items():
        for i in range(n):
            write_png(cdir / "test" / defect / f"{i:03d}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
            m = np.zeros((size, size), np.uint8)
            m[2 + i: 8 + i, 4:10] = 255
            write_png(cdir / "ground_truth" / defect / f"{i:03d}_mask.png", m)
    return cdir


@pytest.fixture
def mvtec_root(tmp_path: Path) -> Path:
    make_mvtec_category(tmp_path)
    return tmp_path
