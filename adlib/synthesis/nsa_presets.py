"""Per-category NSA settings: MRKD's code (what produced its numbers) and the NSA paper's.

MRKD code (``main.py``: ``WIDTH_BOUNDS_PCT``, ``NUM_PATCHES``, ``MIN_OBJECT_PCT``,
``MIN_OVERLAP_PCT``, ``BACKGROUND``; patch routine called with mode ``swap``, ``same=True``,
``resize=False``, gamma (2, 0.05, 0.03), binary labels). Its bounds are much smaller than NSA's
for most objects (toothbrush patches are 6×6 px at 256²).

NSA paper / code (``train_mvtec.py``): Poisson blending from *another* training image, normal
clone for objects ("Shift"), mixed clone for textures ("Shift-M"), patch resizing on (textures
scale 0.5–2). This is what MRKD's paper text describes ("seamlessly blended").

MRKD has no settings for MTD or BTAD; for any category not listed we use the texture style
(half-widths 0.03–0.4, 4 patches, no foreground mask) — a stated choice (methods.md §3.5).
"""

from __future__ import annotations

from .nsa import NSAConfig

TEXTURES = ("carpet", "grid", "leather", "tile", "wood")

# category: (width bounds (rows, cols), patches, min_object_pct, min_overlap_pct, background)
MRKD_CODE = {
    "bottle": (((0.03, 0.4), (0.03, 0.4)), 3, 0.7, 0.25, (200, 60)),
    "cable": (((0.01, 0.05), (0.01, 0.1)), 3, None, None, None),
    "capsule": (((0.01, 0.05), (0.01, 0.05)), 1, 0.7, 0.25, (200, 60)),
    "hazelnut": (((0.03, 0.35), (0.03, 0.35)), 3, 0.7, 0.25, (20, 20)),
    "metal_nut": (((0.01, 0.05), (0.01, 0.01)), 1, 0.5, 0.25, (20, 20)),
    "pill": (((0.01, 0.05), (0.01, 0.05)), 1, 0.7, 0.25, (20, 20)),
    "screw": (((0.01, 0.05), (0.01, 0.05)), 1, 0.5, 0.25, (200, 60)),
    "toothbrush": (((0.01, 0.01), (0.01, 0.01)), 1, 0.25, 0.25, (20, 20)),
    "transistor": (((0.03, 0.4), (0.03, 0.4)), 3, None, None, None),
    "zipper": (((0.01, 0.05), (0.01, 0.01)), 1, 0.7, 0.25, (200, 60)),
    "carpet": (((0.03, 0.4), (0.03, 0.4)), 4, None, None, None),
    "grid": (((0.01, 0.05), (0.01, 0.1)), 4, None, None, None),
    "leather": (((0.03, 0.4), (0.03, 0.4)), 4, None, None, None),
    "tile": (((0.01, 0.05), (0.01, 0.1)), 4, None, None, None),
    "wood": (((0.01, 0.05), (0.01, 0.01)), 4, None, None, None),
}
TEXTURE_STYLE = (((0.03, 0.4), (0.03, 0.4)), 4, None, None, None)

_T = ((0.03, 0.4), (0.03, 0.4))
NSA_PAPER = {  # width bounds, patches, min_object_pct, min_overlap_pct, background
    "bottle": (_T, 3, 0.7, 0.25, (200, 60)),
    "cable": (((0.05, 0.4), (0.05, 0.4)), 3, None, None, None),
    "capsule": (((0.03, 0.15), (0.03, 0.4)), 3, 0.7, 0.25, (200, 60)),
    "hazelnut": (((0.03, 0.35), (0.03, 0.35)), 3, 0.7, 0.25, (20, 20)),
    "metal_nut": (_T, 3, 0.5, 0.25, (20, 20)),
    "pill": (((0.03, 0.2), (0.03, 0.4)), 3, 0.7, 0.25, (20, 20)),
    "screw": (((0.03, 0.12), (0.03, 0.12)), 4, 0.5, 0.25, (200, 60)),
    "toothbrush": (((0.03, 0.4), (0.03, 0.2)), 3, 0.25, 0.25, (20, 20)),
    "transistor": (_T, 3, None, None, None),
    "zipper": (((0.03, 0.4), (0.03, 0.2)), 4, 0.7, 0.25, (200, 60)),
    **{t: (_T, 4, None, None, None) for t in TEXTURES},
}


def _config(entry, **fixed) -> NSAConfig:
    bounds, patches, obj, overlap, background = entry
    return NSAConfig(width_bounds=bounds, num_patches=patches, min_object_pct=0.25 if obj is None else obj,
                     min_overlap_pct=0.25 if overlap is None else overlap, background=background, **fixed)


def mrkd_nsa_config(category: str | None = None, **overrides) -> NSAConfig:
    """MRKD's code: hard ``swap`` paste from the same image, per-class bounds (texture style otherwise)."""
    cfg = _config(MRKD_CODE.get(category or "", TEXTURE_STYLE), mode="swap", same=True, resize=False)
    return cfg.replace(**overrides) if overrides else cfg


def nsa_paper_config(category: str | None = None, **overrides) -> NSAConfig:
    """The NSA paper's settings: Poisson blending from another image (mixed clone for textures and
    unlisted categories, normal clone for objects), patch resizing on."""
    entry = NSA_PAPER.get(category or "", TEXTURE_STYLE)
    texture = category not in NSA_PAPER or category in TEXTURES
    cfg = _config(entry, mode="mixed" if texture else "normal", same=False, resize=True,
                  resize_bounds=(0.5, 2.0) if texture else (0.7, 1.3))
    return cfg.replace(**overrides) if overrides else cfg


def nsa_config(variant: str, category: str | None = None, **overrides) -> NSAConfig:
    """``variant``: ``"code"`` (MRKD's code, default of MRKD) or ``"paper"`` (NSA Poisson blending)."""
    if variant == "code":
        return mrkd_nsa_config(category, **overrides)
    if variant == "paper":
        return nsa_paper_config(category, **overrides)
    raise ValueError(f"NSA variant must be 'code' or 'paper', got {variant!r}")
