"""Structural defects painted onto an albedo image, each returning the exact mask of what changed.

A defect is a coverage field ``alpha`` and a colour; the mask is ``alpha >= threshold`` restricted
to the allowed region (the object's foreground), and ``alpha`` is zeroed outside the mask, so the
defective image differs from the clean one exactly on the mask.
"""

from __future__ import annotations

import numpy as np

from ._draw import blob_radius, coords, pick_center, polyline_alpha, smooth_noise, smoothstep

DEFECT_TYPES = ("scratch", "hole", "stain", "crack")
# alpha level at which a pixel counts as changed (below it the change is dropped entirely)
THRESHOLDS = {"scratch": 0.25, "hole": 0.25, "stain": 0.12, "crack": 0.3}
STAIN_COLOURS = ((0.36, 0.22, 0.10), (0.14, 0.13, 0.12), (0.52, 0.16, 0.10), (0.30, 0.36, 0.16), (0.92, 0.91, 0.86))


def _luma(c: np.ndarray) -> float:
    return float(np.dot(c, (0.299, 0.587, 0.114)))


def _local_colour(albedo: np.ndarray, valid: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """Mean colour of the valid pixels within ``radius`` of ``center``."""
    yy, xx = coords(albedo.shape[0])
    near = (np.hypot(yy - center[0], xx - center[1]) <= max(radius, 2.0)) & valid
    if not near.any():
        near = valid
    return albedo[near].mean(axis=0)


def _bezier(rng: np.random.Generator, center: np.ndarray, length: float) -> np.ndarray:
    """A gently curved stroke of ``length`` through ``center`` (quadratic Bézier, N×2 as (y, x))."""
    ang = rng.uniform(0, np.pi)
    d = np.array([np.sin(ang), np.cos(ang)], np.float32)
    n = np.array([-d[1], d[0]], np.float32)
    p0, p2 = center - d * length / 2, center + d * length / 2
    p1 = center + n * rng.uniform(-0.3, 0.3) * length
    t = np.linspace(0, 1, max(8, int(length / 2)), dtype=np.float32)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, steps: int, step: float, wiggle: float) -> np.ndarray:
    pts = [start]
    for _ in range(steps):
        heading += rng.normal(0, wiggle)
        pts.append(pts[-1] + step * np.array([np.sin(heading), np.cos(heading)], np.float32))
    return np.array(pts, np.float32)


def scratch(rng, albedo, valid, center, scale):
    """A thin curved line, lighter or darker than the surface, tapered at both ends."""
    size = albedo.shape[0]
    pts = _bezier(rng, center, size * scale * rng.uniform(0.15, 0.45))
    width = max(0.9, rng.uniform(1.0, 2.4) * size / 128)
    mid = np.linspace(0, 1, len(pts) - 1)
    alpha = polyline_alpha(size, pts, width * (0.45 + 0.55 * np.sin(np.pi * (mid * 0.9 + 0.05))))
    local = _local_colour(albedo, valid, center, 0.1 * size)
    sign = 1.0 if _luma(local) < 0.5 else -1.0
    if rng.random() < 0.2:
        sign = -sign
    delta = rng.uniform(0.18, 0.42)
    colour = np.clip(local + sign * delta, 0.03, 0.97) if sign > 0 or _luma(local) > delta else local * 0.3
    return alpha, colour


def crack(rng, albedo, valid, center, scale):
    """A dark branching line: a random walk with one to three shorter side branches."""
    size = albedo.shape[0]
    step = 0.022 * size * scale
    heading = rng.uniform(0, 2 * np.pi)
    n = int(rng.integers(9, 16))
    main = _walk(rng, center, heading, n // 2, step, 0.35)
    back = _walk(rng, center, heading + np.pi, n - n // 2, step, 0.35)
    main = np.concatenate([back[::-1], main[1:]])
    width = max(0.9, rng.uniform(1.1, 1.7) * size / 128)
    taper = 0.5 + 0.5 * np.sin(np.pi * (np.linspace(0, 1, len(main) - 1) * 0.8 + 0.1))
    alpha = polyline_alpha(size, main, width * taper)
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(2, len(main) - 2))
        seg = main[k + 1] - main[k]
        h = np.arctan2(seg[0], seg[1]) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1)
        br = _walk(rng, main[k], h, int(rng.integers(3, 7)), 0.8 * step, 0.3)
        bw = max(0.8, 0.7 * width) * np.linspace(1.0, 0.6, len(br) - 1)
        alpha = np.maximum(alpha, polyline_alpha(size, br, bw))
    local = _local_colour(albedo, valid, center, 0.1 * size)
    if _luma(local) < 0.3:  # on a dark surface a crack shows its lighter broken edges
        return alpha, np.clip(local + rng.uniform(0.2, 0.4), 0, 1)
    return alpha, local * rng.uniform(0.15, 0.45)


def hole(rng, albedo, valid, center, scale):
    """A dark irregular puncture with a shaded inner wall and a slightly lighter torn rim."""
    size = albedo.shape[0]
    yy, xx = coords(size)
    radius = size * scale * rng.uniform(0.035, 0.07)
    dy, dx = yy - center[0], xx - center[1]
    d, th = np.hypot(dy, dx), np.arctan2(dy, dx)
    r = blob_radius(rng, th, radius, 0.18)
    alpha = np.clip(r - d + 0.5, 0, 1)
    local = _local_colour(albedo, valid, center, 1.5 * radius)
    depth = np.clip(d / np.maximum(r, 1e-3), 0, 1)
    lit = 0.5 + 0.5 * np.cos(th - rng.uniform(0, 2 * np.pi))
    if _luma(local) < 0.3:  # a hole in a dark shell shows the lighter material below
        inner = np.float32((0.78, 0.74, 0.64)) * (0.45 + 0.4 * depth ** 2 * lit)[..., None]
    else:
        inner = local * (0.08 + 0.22 * depth ** 2 * lit)[..., None]
    rim = smoothstep(r - max(1.2, 0.02 * size), r - 0.2, d)
    colour = inner * (1 - rim[..., None]) + np.clip(local * 1.25 + 0.05, 0, 1) * rim[..., None]
    return alpha, colour


def stain(rng, albedo, valid, center, scale):
    """A smooth, semi-transparent colour blob with a soft edge (mask = alpha above 0.12)."""
    size = albedo.shape[0]
    yy, xx = coords(size)
    radius = size * scale * rng.uniform(0.055, 0.11)
    dy, dx = yy - center[0], xx - center[1]
    d, th = np.hypot(dy, dx), np.arctan2(dy, dx)
    r = blob_radius(rng, th, radius, 0.25, harmonics=6)
    soft = rng.uniform(0.25, 0.45) * radius
    opacity = rng.uniform(0.35, 0.8)
    alpha = opacity * smoothstep(-0.2 * soft, soft, r - d) * (0.88 + 0.12 * smooth_noise(rng, size, size / 10))
    local = _local_colour(albedo, valid, center, radius)
    options = [np.array(c, np.float32) for c in STAIN_COLOURS if abs(_luma(np.array(c)) - _luma(local)) >= 0.2]
    colour = options[int(rng.integers(len(options)))] if options else 1.0 - local
    return np.clip(alpha, 0, 1), colour


BUILDERS = {"scratch": scratch, "hole": hole, "stain": stain, "crack": crack}


def apply_defect(kind: str, rng: np.random.Generator, albedo: np.ndarray, fg: np.ndarray | None = None, *,
                 center=None, scale: float = 1.0, tries: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Paint one defect of ``kind`` on ``albedo`` inside ``fg >= 0.5``; returns (albedo, bool mask).

    ``center`` fixes the position (y, x) and ``scale`` shrinks or grows the defect (1 = image-sized
    defaults: a few % of the image area). The mask marks exactly the pixels that changed.
    """
    if kind not in BUILDERS:
        raise ValueError(f"unknown defect type {kind!r}; known: {list(BUILDERS)}")
    size = albedo.shape[0]
    valid = np.ones(albedo.shape[:2], bool) if fg is None else fg >= 0.5
    min_px = max(3.0, 0.0012 * size * size * scale * scale)
    best = None
    for _ in range(tries):
        c = pick_center(rng, valid, 0.08 * size * scale) if center is None else np.asarray(center, np.float32)
        alpha, colour = BUILDERS[kind](rng, albedo, valid, c, scale)
        alpha = alpha * valid
        mask = alpha >= THRESHOLDS[kind]
        if best is None or mask.sum() > best[2].sum():
            best = (alpha, colour, mask)
        if mask.sum() >= min_px:
            break
    alpha, colour, mask = best
    alpha = np.where(mask, alpha, 0.0).astype(np.float32)[..., None]
    out = albedo * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha
    return out.astype(np.float32), mask
