"""Render one synthetic image in memory, with its clean twin and exact ground truth.

Every image is reproducible on its own: its random state comes from (seed, category,
``"<split>/<defect>"``, index) only, so file ``test/hole/003.png`` of a generated category equals
``render_sample(category, 3, "hole", "test", seed, image_size)[1]``. For MVTec LOCO categories
the test images of each defect type are numbered consecutively inside ``logical_anomalies`` /
``structural_anomalies`` (see :func:`loco_test_plan`).
"""

from __future__ import annotations

import numpy as np

from ..schema import NORMAL
from ._draw import random_finish, sample_rngs
from .defects import apply_defect
from .loco import PIXEL_VALUES, render_tray
from .objects import OBJECTS
from .registry import category_info
from .textures import TEXTURES

SCENES = {**TEXTURES, **OBJECTS}
LOCO_RENDERERS = {"tray": render_tray}
SPLITS = {"mvtec_ad": ("train", "test"), "mvtec_loco": ("train", "validation", "test")}


def _check(category: str, index: int, defect: str, split: str, image_size: int):
    info = category_info(category)
    if split not in SPLITS[info.layout]:
        raise ValueError(f"split of {category!r} must be one of {SPLITS[info.layout]}, got {split!r}")
    if defect != NORMAL and defect not in info.defects:
        raise ValueError(f"unknown defect {defect!r} for {category!r}; known: {[NORMAL, *info.defects]}")
    if defect != NORMAL and split != "test":
        raise ValueError(f"defective images exist only in the test split, got split={split!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative int, got {index!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise ValueError(f"image_size must be an int >= 32, got {image_size!r}")
    return info


def render_loco_sample(category: str, index: int = 0, defect: str = NORMAL, split: str = "test", seed: int = 0,
                       image_size: int = 128) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int, np.ndarray]]]:
    """A LOCO-layout image: (clean uint8 H×W×3, image uint8 H×W×3, [(defect name, pixel value, bool mask)])."""
    info = _check(category, index, defect, split, image_size)
    if info.kind != "loco":
        raise ValueError(f"{category!r} is not an MVTec LOCO category; use render_sample")
    scene_rng, defect_rng = sample_rngs(seed, category, f"{split}/{defect}", index)
    clean, image, instances = LOCO_RENDERERS[category](scene_rng, defect_rng, int(image_size), defect)
    finish = random_finish(scene_rng, int(image_size))
    return finish.apply(clean), finish.apply(image), [(n, PIXEL_VALUES[n], m) for n, m in instances]


def render_sample(category: str, index: int = 0, defect: str = NORMAL, split: str = "test", seed: int = 0,
                  image_size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image of any synthetic category: (clean uint8 H×W×3, image uint8 H×W×3, bool H×W mask).

    ``clean`` is the same scene without the defect (identical lighting and noise), so
    ``image != clean`` exactly on ``mask`` for structural defects. For LOCO categories the mask
    is the union of the instance masks (see :func:`render_loco_sample`).
    """
    info = _check(category, index, defect, split, image_size)
    if info.kind == "loco":
        clean, image, instances = render_loco_sample(category, index, defect, split, seed, image_size)
        mask = np.zeros(clean.shape[:2], bool)
        for _, _, m in instances:
            mask |= m
        return clean, image, mask
    scene_rng, defect_rng = sample_rngs(seed, category, f"{split}/{defect}", index)
    scene = SCENES[category](scene_rng, int(image_size))
    finish = random_finish(scene_rng, int(image_size))
    clean = finish.apply(scene.albedo)
    if defect == NORMAL:
        return clean, clean.copy(), np.zeros(clean.shape[:2], bool)
    albedo, mask = apply_defect(defect, defect_rng, scene.albedo, scene.fg)
    return clean, finish.apply(albedo), mask


def loco_test_plan(category: str, n_test_defect: int) -> list[tuple[str, str, int]]:
    """(folder, defect type, index within type) of each anomalous LOCO test image, in file order."""
    info = category_info(category)
    plan = []
    for folder, types in (("logical_anomalies", info.logical_defects), ("structural_anomalies", info.structural_defects)):
        plan += [(folder, t, i) for t in types for i in range(n_test_defect)]
    return plan


def foreground(category: str, index: int = 0, defect: str = NORMAL, split: str = "test", seed: int = 0,
               image_size: int = 128) -> np.ndarray:
    """Bool H×W mask of where defects may go in that image (the object; everywhere for textures)."""
    info = _check(category, index, defect, split, image_size)
    if info.kind == "loco":
        raise ValueError(f"foreground() is for MVTec AD layout categories, not {category!r}")
    scene_rng, _ = sample_rngs(seed, category, f"{split}/{defect}", index)
    return SCENES[category](scene_rng, int(image_size)).fg >= 0.5
