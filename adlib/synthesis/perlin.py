"""Perlin noise masks as DRAEM draws them (Zavrtanik et al., ICCV 2021, §3.2; ``perlin.py``
``rand_perlin_2d_np`` and ``data_loader.py``), shared by DAF's DRA / Simple Texture strategies and
DM-GRD's Fourier + Perlin synthesis (its Eq. 5 mask M_pt, thresholded at 0.5).

- :func:`perlin_noise`: 2-D gradient noise on a ``res`` lattice: random unit gradients (angles
  uniform in [0, 2π)), the fade 6t⁵ − 15t⁴ + 10t³, bilinear mixing of the four corner dot
  products, times √2. The lattice must divide the size, so the noise is generated at the next
  multiple of ``res`` and cropped (the same values as DRAEM's when the size is a multiple).
- :func:`random_perlin`: DRAEM's draw: ``res = (2^a, 2^b)`` with a, b ~ U{0..5} independently, then
  a rotation by U(−90°, 90°) (imgaug Affine: bilinear, zero outside; here
  ``scipy.ndimage.rotate(reshape=False, order=1, cval=0)``).
- :func:`perlin_mask`: ``random_perlin(...) > 0.5`` (the binary anomaly shape).

Everything random comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import rotate


def _fade(t: np.ndarray) -> np.ndarray:
    return 6 * t**5 - 15 * t**4 + 10 * t**3


def perlin_noise(shape, res, rng: np.random.Generator | None = None, *, angles: np.ndarray | None = None) -> np.ndarray:
    """H×W float32 Perlin noise with ``res = (rows, cols)`` lattice cells (DRAEM ``rand_perlin_2d_np``).

    ``angles``: the (res₀+1)×(res₁+1) gradient angles; drawn uniformly in [0, 2π) from ``rng`` when
    not given. Values lie in about [−1, 1] (√2 × the [−√½, √½] range of 2-D gradient noise).
    """
    h, w = int(shape[0]), int(shape[1])
    r0, r1 = int(res[0]), int(res[1])
    if min(h, w, r0, r1) < 1:
        raise ValueError(f"perlin_noise needs a positive shape and resolution, got {shape} and {res}")
    if angles is None:
        if rng is None:
            raise ValueError("perlin_noise needs an rng or explicit angles")
        angles = 2 * math.pi * rng.random((r0 + 1, r1 + 1))
    angles = np.asarray(angles, np.float64)
    if angles.shape != (r0 + 1, r1 + 1):
        raise ValueError(f"angles must have shape {(r0 + 1, r1 + 1)}, got {angles.shape}")
    hp, wp = -(-h // r0) * r0, -(-w // r1) * r1  # next multiples of the lattice
    d0, d1 = hp // r0, wp // r1
    g0 = ((np.arange(hp) * (r0 / hp)) % 1)[:, None]  # position inside the cell (DRAEM's mgrid % 1)
    g1 = ((np.arange(wp) * (r1 / wp)) % 1)[None, :]
    i, j = (np.arange(hp) // d0)[:, None], (np.arange(wp) // d1)[None, :]
    gx, gy = np.cos(angles), np.sin(angles)

    def dot(di, dj):  # gradient at corner (i+di, j+dj) · offset from that corner
        return (g0 - di) * gx[i + di, j + dj] + (g1 - dj) * gy[i + di, j + dj]

    t0, t1 = _fade(g0), _fade(g1)
    d00, d01 = dot(0, 0), dot(0, 1)  # each corner once (the same values as DRAEM's repeated calls)
    n0 = d00 + t0 * (dot(1, 0) - d00)
    n1 = d01 + t0 * (dot(1, 1) - d01)
    noise = math.sqrt(2) * (n0 + t1 * (n1 - n0))
    return noise[:h, :w].astype(np.float32)


def random_perlin(shape, rng: np.random.Generator, log2_scales: tuple[int, int] = (0, 5),
                  rotation: float = 90.0) -> np.ndarray:
    """DRAEM's random Perlin draw: scales 2^a × 2^b (a, b ~ U{lo..hi}), rotated by U(−rotation, rotation)°."""
    lo, hi = log2_scales
    res = (2 ** int(rng.integers(lo, hi + 1)), 2 ** int(rng.integers(lo, hi + 1)))
    noise = perlin_noise(shape, res, rng)
    if rotation:
        angle = float(rng.uniform(-rotation, rotation))
        noise = rotate(noise, angle, reshape=False, order=1, mode="constant", cval=0.0)
    return noise


def perlin_mask(shape, rng: np.random.Generator, threshold: float = 0.5, **kwargs) -> np.ndarray:
    """H×W bool anomaly shape: :func:`random_perlin` ``> threshold`` (may be empty; callers re-draw)."""
    return random_perlin(shape, rng, **kwargs) > threshold
