"""Drawing primitives for the synthetic categories: seeded RNGs, smooth noise, shapes, lighting.

Images are drawn as float32 ``H×W×3`` albedo in [0, 1]; :class:`Finish` then applies the
per-image lighting and sensor noise and quantises to uint8. Everything is numpy + PIL.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter


class Scene(NamedTuple):
    """A rendered normal image before lighting: albedo (H×W×3) and foreground coverage (H×W)."""

    albedo: np.ndarray
    fg: np.ndarray


def stable_hash(text: str) -> int:
    """A hash that does not change between Python runs (``hash()`` is salted)."""
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def sample_rngs(seed: int, category: str, key: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (scene, defect) generators for one image, from (seed, category, key, index)."""
    ss = np.random.SeedSequence([int(seed), stable_hash(category), stable_hash(key), int(index)])
    scene, defect = ss.spawn(2)
    return np.random.default_rng(scene), np.random.default_rng(defect)


@lru_cache(maxsize=8)
def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(size, dtype=np.float32)
    yy, xx = np.meshgrid(c, c, indexing="ij")
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (yy, xx) pixel-index grids of a ``size×size`` image."""
    return _coords(int(size))


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def smooth_noise(rng: np.random.Generator, size: int, cells, octaves: int = 1, persistence: float = 0.5) -> np.ndarray:
    """Zero-mean, unit-std value noise: bicubic-upsampled random grids (``cells`` = (ny, nx) or int)."""
    cy, cx = (cells, cells) if np.isscalar(cells) else cells
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    for o in range(octaves):
        ny = max(1, int(round(cy * 2 ** o)))
        nx = max(1, int(round(cx * 2 ** o)))
        grid = rng.standard_normal((ny + 3, nx + 3)).astype(np.float32)
        oy, ox = rng.uniform(0.5, 1.5, 2)
        img = Image.fromarray(grid).resize((size, size), Image.BICUBIC, box=(ox, oy, ox + nx, oy + ny))
        out += amp * np.asarray(img, dtype=np.float32)
        amp *= persistence
    out -= out.mean()
    return out / (out.std() + 1e-6)


def noise_1d(rng: np.random.Generator, t: np.ndarray, n: int) -> np.ndarray:
    """Smooth 1-D noise evaluated at ``t`` (units: one random knot per 1.0), values ~N(0, 1)."""
    knots = rng.standard_normal(n + 2).astype(np.float32)
    return np.interp(np.mod(t, n), np.arange(n + 2, dtype=np.float32), knots).astype(np.float32)


def blur(field: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a float field in [0, 1] (via an 8-bit PIL image; good enough for shading)."""
    img = Image.fromarray(np.clip(field * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0


def lerp(a, b, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours ``a`` and ``b`` (3-vectors or H×W×3) by ``t`` (H×W)."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    return a + (b - a) * t[..., None]


def over(base: np.ndarray, colour, alpha: np.ndarray) -> np.ndarray:
    """Composite ``colour`` (3-vector or H×W×3) over ``base`` with coverage ``alpha`` (H×W)."""
    a = alpha[..., None]
    return base * (1.0 - a) + np.asarray(colour, np.float32) * a


def jitter_colour(rng: np.random.Generator, colour, amount: float) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0.0, amount, 3).astype(np.float32), 0.0, 1.0)


def polyline_alpha(size: int, points: np.ndarray, widths, pad: float = 2.0) -> np.ndarray:
    """Anti-aliased coverage of a polyline (``points`` N×2 as (y, x)) with per-segment ``widths``."""
    points = np.asarray(points, np.float32)
    widths = np.broadcast_to(np.asarray(widths, np.float32), (len(points) - 1,))
    alpha = np.zeros((size, size), np.float32)
    reach = float(widths.max()) / 2 + pad
    y0 = int(max(0, np.floor(points[:, 0].min() - reach)))
    y1 = int(min(size, np.ceil(points[:, 0].max() + reach) + 1))
    x0 = int(max(0, np.floor(points[:, 1].min() - reach)))
    x1 = int(min(size, np.ceil(points[:, 1].max() + reach) + 1))
    if y0 >= y1 or x0 >= x1:
        return alpha
    yy, xx = coords(size)
    py, px = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
    crop = alpha[y0:y1, x0:x1]
    for k in range(len(points) - 1):
        (ay, ax), (by, bx) = points[k], points[k + 1]
        dy, dx = by - ay, bx - ax
        den = dy * dy + dx * dx
        t = np.clip(((py - ay) * dy + (px - ax) * dx) / den, 0.0, 1.0) if den > 1e-9 else 0.0
        d = np.hypot(py - (ay + t * dy), px - (ax + t * dx))
        np.maximum(crop, np.clip(widths[k] / 2 + 0.5 - d, 0.0, 1.0), out=crop)
    return alpha


def blob_radius(rng: np.random.Generator, theta: np.ndarray, radius: float, roughness: float, harmonics: int = 5) -> np.ndarray:
    """Radius r(θ) of an irregular closed blob: ``radius`` times 1 + a few random harmonics."""
    r = np.ones_like(theta)
    for k in range(2, harmonics + 2):
        amp = roughness * rng.uniform(0.3, 1.0) / k ** 0.8
        r = r + amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return radius * np.maximum(r, 0.3)


def pick_center(rng: np.random.Generator, valid: np.ndarray, margin: float, tries: int = 64) -> np.ndarray:
    """A random (y, x) inside ``valid`` whose neighbours at distance ``margin`` are valid too."""
    ys, xs = np.nonzero(valid)
    if len(ys) == 0:
        raise ValueError("no valid pixel to place a defect on")
    size_y, size_x = valid.shape
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    best = None
    for _ in range(tries):
        k = rng.integers(len(ys))
        cy, cx = ys[k] + rng.uniform(-0.4, 0.4), xs[k] + rng.uniform(-0.4, 0.4)
        ry = np.round(cy + margin * np.sin(angles)).astype(int)
        rx = np.round(cx + margin * np.cos(angles)).astype(int)
        inside = (ry >= 0) & (ry < size_y) & (rx >= 0) & (rx < size_x)  # the image border counts as invalid
        ok = (valid[ry.clip(0, size_y - 1), rx.clip(0, size_x - 1)] & inside).mean()
        if best is None or ok > best[0]:
            best = (ok, np.array([cy, cx], np.float32))
        if ok == 1.0:
            break
    return best[1]


@dataclass
class Finish:
    """Per-image lighting (gain field, offset) and sensor noise, shared by clean and defective renders."""

    gain: np.ndarray  # H×W×3
    offset: np.ndarray  # 3
    noise: np.ndarray  # H×W×3

    def apply(self, albedo: np.ndarray) -> np.ndarray:
        """Light, add noise and quantise an albedo image to uint8."""
        img = albedo * self.gain + self.offset + self.noise
        return np.clip(img * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def random_finish(rng: np.random.Generator, size: int, brightness: float = 0.07, gradient: float = 0.12,
                  colour: float = 0.005, noise: tuple[float, float] = (0.004, 0.012)) -> Finish:
    """Global brightness/contrast, a linear light gradient in a random direction, colour cast, noise."""
    yy, xx = coords(size)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = ((xx / size - 0.5) * np.cos(ang) + (yy / size - 0.5) * np.sin(ang)).astype(np.float32)
    contrast = rng.uniform(0.92, 1.08)
    gain = contrast * (1.0 + rng.uniform(-brightness, brightness) + rng.uniform(0, gradient) * ramp)
    cast = 1.0 + rng.normal(0.0, colour, 3).astype(np.float32)
    offset = (1.0 - contrast) * 0.35 * np.ones(3, np.float32)
    sigma = rng.uniform(*noise)
    return Finish(
        gain=(gain[..., None] * cast).astype(np.float32),
        offset=offset.astype(np.float32),
        noise=rng.standard_normal((size, size, 3), dtype=np.float32) * np.float32(sigma),
    )
