"""Deterministic synthetic anomaly-detection data in the exact MVTec AD and MVTec LOCO AD layouts.

The embedded default dataset of adlib: tests, CI and notebook smoke runs use it. Textures
(``weave``, ``grain``, ``tile``) and objects (``nut``, ``capsule``) get structural defects
(scratch, hole, stain, crack) with exact masks; ``tray`` is an MVTec-LOCO-style category with
logical and structural anomalies, one ground-truth PNG per defect instance.

Example::

    from adlib.data.synthetic import ensure_synthetic
    root = ensure_synthetic()          # $ADLIB_DATA/synthetic or ~/.cache/adlib/data/synthetic
    MVTecAD(root, "weave", "test")     # adlib.data.mvtec;  MVTecLOCO(root, "tray", "test") for LOCO
    clean, image, mask = render_sample("nut", 0, "scratch")   # in memory, with the clean twin
"""

from .defects import DEFECT_TYPES, apply_defect
from .generate import (
    ENV_VAR,
    GENERATOR_VERSION,
    META_FILE,
    SyntheticParamsError,
    count_images,
    default_root,
    ensure_synthetic,
    generate,
)
from .loco import defects_config
from .registry import (
    ALL_CATEGORIES,
    SYNTHETIC_CATEGORIES,
    SYNTHETIC_LOCO_CATEGORIES,
    SYNTHETIC_REGISTRY,
    CategoryInfo,
    category_info,
)
from .render import foreground, loco_test_plan, render_loco_sample, render_sample

__all__ = [
    "ALL_CATEGORIES", "CategoryInfo", "DEFECT_TYPES", "ENV_VAR", "GENERATOR_VERSION", "META_FILE",
    "SYNTHETIC_CATEGORIES", "SYNTHETIC_LOCO_CATEGORIES", "SYNTHETIC_REGISTRY", "SyntheticParamsError",
    "apply_defect", "category_info", "count_images", "default_root", "defects_config", "ensure_synthetic", "foreground",
    "generate", "loco_test_plan", "render_loco_sample", "render_sample",
]
