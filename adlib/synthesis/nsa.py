"""NSA — Natural Synthetic Anomalies (Schlüter et al., ECCV 2022), the patch routine of MRKD's ILM.

One call of :func:`nsa_patch` turns a normal image into a synthetic anomalous one:

1. *Foreground* (objects only): a pixel is object when its grey level differs from the
   background brightness by more than a threshold (then a 7×7 median filter).
2. *Patches*: the first is always attempted, each further one (up to ``num_patches``) with
   probability ½. A patch's half-width per axis is ``(offset + Gamma(k, θ)) × side``, clipped to
   the per-category bounds. A source box is accepted when more than ``min_object_pct`` of it is
   object; a destination box when the two objects overlap by more than ``min_overlap_pct``
   (≤ ``max_attempts`` tries each, else the patch is skipped).
3. *Paste*: ``swap`` copies the source pixels (MRKD's code, source = the same image); ``normal``
   / ``mixed`` blend them by Poisson image editing (NSA paper and MRKD paper, source = another
   training image; :mod:`adlib.synthesis.poisson`). ``resize`` rescales the patch first.
4. *Label*: pixels inside pasted patches whose mean absolute change exceeds ``tol`` grey levels,
   5×5 median filtered — the pixel-level truth of what changed.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a seed fixes the result.
Differences from the reference code (no OpenCV here): binary medians are majority votes with
replicated borders (= ``cv2.medianBlur`` on 0/1 masks); the Poisson patch is placed exactly on its
label box (OpenCV's centring can shift it by one pixel); resizing uses PIL bilinear.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import uniform_filter

from .base import as_hwc

MODES = ("swap", "normal", "mixed")


@dataclass(frozen=True)
class NSAConfig:
    """Settings of one NSA routine (defaults: MRKD's code for a texture-like category)."""

    mode: str = "swap"  # swap (hard paste, MRKD code) | normal | mixed (Poisson: NSA / MRKD paper)
    same: bool = True  # source patch from the destination itself (MRKD code) or from another image
    num_patches: int = 4
    width_bounds: tuple = ((0.03, 0.4), (0.03, 0.4))  # half-width bounds, fractions of (rows, cols)
    gamma_params: tuple | None = (2.0, 0.05, 0.03)  # (shape, scale, offset); None = uniform in bounds
    background: tuple | None = None  # (brightness, threshold) or a tuple of them; None = whole image
    min_object_pct: float = 0.25
    min_overlap_pct: float = 0.25
    shift: bool = True  # paste at a new random place (False: same coordinates as the source)
    resize: bool = False
    resize_bounds: tuple = (0.7, 1.3)
    tol: float = 1.0  # grey levels of mean absolute change for a positive label
    max_attempts: int = 200
    min_clone_pixels: int = 50  # Poisson blending is skipped for smaller masks (as NSA does for OpenCV)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"NSA mode must be one of {MODES}, got {self.mode!r}")
        if self.num_patches < 1:
            raise ValueError(f"num_patches must be >= 1, got {self.num_patches}")
        (a, b), (c, d) = self.width_bounds
        if not (0 <= a <= b < 0.5 and 0 <= c <= d < 0.5):
            raise ValueError(f"width_bounds are half-widths as fractions in [0, 0.5): {self.width_bounds}")

    def replace(self, **changes) -> "NSAConfig":
        return replace(self, **changes)


@dataclass
class NSAResult:
    """The synthetic image (H×W×C uint8), its label (H×W uint8 in {0, 1}) and the pasted boxes
    ``((row0, row1), (col0, col1))`` in destination coordinates."""

    image: np.ndarray
    label: np.ndarray
    boxes: list = field(default_factory=list)


def binary_median(mask: np.ndarray, size: int) -> np.ndarray:
    """Median filter of a 0/1 image with replicated borders (``cv2.medianBlur`` of a binary mask):
    for binary values the median is a majority vote, computed here with a box filter (exact, and
    ~10× faster than a general median filter)."""
    votes = uniform_filter(mask.astype(np.float32), size=size, mode="nearest") * (size * size)
    return (votes > (size * size) / 2).astype(np.uint8)


def object_mask(image: np.ndarray, background) -> np.ndarray:
    """H×W uint8 foreground: |channel mean − brightness| > threshold for every (brightness,
    threshold) given, then a 7×7 median filter. ``background=None``: everything is object."""
    if background is None:
        return np.ones(image.shape[:2], np.uint8)
    pairs = [background] if np.isscalar(background[0]) else list(background)
    grey = image.astype(np.float32).mean(axis=-1)
    mask = np.ones(image.shape[:2], bool)
    for brightness, threshold in pairs:
        mask &= np.abs(grey - brightness) > threshold
    return binary_median(mask, 7)


def _half_width(rng, side, lo, hi, gamma_params) -> int:
    if gamma_params is not None:
        shape, scale, offset = gamma_params
        return int(np.clip((offset + rng.gamma(shape, scale)) * side, lo, hi))
    return int(rng.integers(lo, hi)) if hi > lo else int(lo)


def _resize(img: np.ndarray, size_hw: tuple[int, int], nearest: bool = False) -> np.ndarray:
    from PIL import Image

    h, w = size_hw
    method = Image.NEAREST if nearest else Image.BILINEAR
    chans = [np.asarray(Image.fromarray(img[..., c]).resize((w, h), method)) for c in range(img.shape[2])]
    return np.stack(chans, axis=-1)


def _one_patch(out, src, dest_obj, src_obj, cfg: NSAConfig, rng):
    """Paste one patch into ``out`` (in place); returns (box, patch mask) or None when no place was found."""
    H, W = out.shape[:2]
    use_fg = cfg.background is not None
    (a, b), (c, d) = cfg.width_bounds
    min1, max1 = int(np.round(a * H)), int(np.round(b * H))
    min2, max2 = int(np.round(c * W)), int(np.round(d * W))
    hw1 = _half_width(rng, H, min1, max1, cfg.gamma_params)
    hw2 = _half_width(rng, W, min2, max2, cfg.gamma_params)
    for _ in range(cfg.max_attempts):  # source box
        c1 = int(rng.integers(min1, max(H - min1, min1 + 1)))
        c2 = int(rng.integers(min2, max(W - min2, min2 + 1)))
        r0, r1 = np.clip(c1 - hw1, 0, H), np.clip(c1 + hw1, 0, H)
        q0, q1 = np.clip(c2 - hw2, 0, W), np.clip(c2 + hw2, 0, W)
        if r1 <= r0 or q1 <= q0:
            continue
        if not use_fg or src_obj[r0:r1, q0:q1].mean() > cfg.min_object_pct:
            break
    else:
        return None
    patch = src[r0:r1, q0:q1]
    pmask = np.ones(patch.shape[:2], np.uint8)
    pobj = src_obj[r0:r1, q0:q1]
    if cfg.resize:
        h, w = patch.shape[:2]
        scale = float(np.clip(rng.normal(1.0, 0.5), *cfg.resize_bounds))
        nh = np.clip(scale * h, min1, max1)
        nw = int(np.clip(int(nh / h * w), max(min2, 1), max(max2, 1)))
        nh = int(np.clip(int(nw / w * h), max(min1, 1), max(max1, 1)))
        patch = _resize(patch, (nh, nw))
        pmask = np.ones((nh, nw), np.uint8)
        pobj = _resize(pobj[..., None], (nh, nw), nearest=True)[..., 0]
    h, w = patch.shape[:2]
    if cfg.shift:
        lo1, hi1, lo2, hi2 = h // 2 + 1, H - h // 2 - 1, w // 2 + 1, W - w // 2 - 1
        if hi1 <= lo1 or hi2 <= lo2:
            return None
        for _ in range(cfg.max_attempts):  # destination box
            c1, c2 = int(rng.integers(lo1, hi1)), int(rng.integers(lo2, hi2))
            r0, r1, q0, q1 = c1 - h // 2, c1 + (h + 1) // 2, c2 - w // 2, c2 + (w + 1) // 2
            if not use_fg:
                break
            both = dest_obj[r0:r1, q0:q1] & pobj & pmask
            n_src = int(pobj.sum())
            if n_src and pobj.sum() / pmask.size > cfg.min_object_pct and both.sum() / n_src > cfg.min_overlap_pct:
                break
        else:
            return None
    if use_fg:
        pmask = pmask & (pobj | dest_obj[r0:r1, q0:q1])
    if cfg.mode == "swap":
        region = out[r0:r1, q0:q1]
        region[:] = np.where(pmask[..., None].astype(bool), patch, region)
    else:
        from .poisson import seamless_clone

        clone = pmask.copy()
        if use_fg:  # NSA adds the common background to the clone mask (avoids artefacts at its border)
            clone |= (1 - pobj) & (1 - dest_obj[r0:r1, q0:q1])
        clone[0, :] = clone[-1, :] = 0
        clone[:, 0] = clone[:, -1] = 0
        if int(clone.sum()) < cfg.min_clone_pixels:
            return None
        out[:] = seamless_clone(patch, out, clone, (q0 + w // 2, r0 + h // 2), cfg.mode)
    return ((int(r0), int(r1)), (int(q0), int(q1))), pmask


def nsa_patch(dest: np.ndarray, src: np.ndarray | None = None, config: NSAConfig | None = None,
              rng: np.random.Generator | int | None = None) -> NSAResult:
    """Synthesise one anomalous image from ``dest`` (H×W[×C] uint8) with patches from ``src``
    (``config.same`` or ``src=None``: from ``dest`` itself). ``rng``: a Generator or a seed."""
    cfg = config or NSAConfig()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    squeeze = np.asarray(dest).ndim == 2
    dest = as_hwc(dest, "dest")
    src = dest if (cfg.same or src is None) else as_hwc(src, "src")
    if src.shape != dest.shape:
        raise ValueError(f"source {src.shape} and destination {dest.shape} images must have the same shape")
    dest_obj = object_mask(dest, cfg.background)
    src_obj = dest_obj if src is dest else object_mask(src, cfg.background)
    out = dest.copy()
    region = np.zeros(dest.shape[:2], np.uint8)
    boxes = []
    for i in range(cfg.num_patches):
        if i > 0 and rng.integers(2) == 0:
            continue
        got = _one_patch(out, src, dest_obj, src_obj, cfg, rng)
        if got is not None:
            ((r0, r1), (q0, q1)), pmask = got
            region[r0:r1, q0:q1] = pmask
            boxes.append(((r0, r1), (q0, q1)))
    change = np.abs(out.astype(np.float32) - dest.astype(np.float32)).mean(axis=-1) * region
    label = binary_median(change > cfg.tol, 5)
    return NSAResult(out[..., 0] if squeeze else out, label, boxes)


class NSA:
    """A picklable synthesiser ``NSA(config)(dest, src, rng) -> NSAResult`` for
    :class:`adlib.synthesis.SyntheticAnomalies` (DataLoader workers pickle it)."""

    def __init__(self, config: NSAConfig | None = None):
        self.config = config or NSAConfig()

    def __call__(self, dest: np.ndarray, src: np.ndarray | None = None, rng=None) -> NSAResult:
        return nsa_patch(dest, src, self.config, rng)

    def __repr__(self) -> str:
        return f"NSA({self.config})"
