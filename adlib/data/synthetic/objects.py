"""Object categories: one object on a plain background, with varying pose.

Each renderer returns a :class:`Scene` whose ``fg`` is the object's anti-aliased coverage;
defects are only placed where ``fg >= 0.5``.
"""

from __future__ import annotations

import numpy as np

from ._draw import Scene, coords, jitter_colour, lerp, smooth_noise, smoothstep


def _hexagon_radius(theta: np.ndarray, rot: float, radius: float, corner: float) -> np.ndarray:
    """Polar radius of a regular hexagon (circumradius ``radius``) with corners cut at ``corner``."""
    phi = np.mod(theta - rot, np.pi / 3) - np.pi / 6
    return np.minimum(radius * np.cos(np.pi / 6) / np.cos(phi), corner * radius)


def nut(rng: np.random.Generator, size: int) -> Scene:
    """A hex metal nut seen from above: chamfered face, threaded bore, drop shadow; any rotation."""
    yy, xx = coords(size)
    s = float(size)
    cy, cx = s / 2 + np.clip(rng.normal(0, 0.025 * s, 2), -0.06 * s, 0.06 * s)
    rot = rng.uniform(0, 2 * np.pi)
    radius = 0.37 * s * rng.uniform(0.97, 1.03)
    light = np.deg2rad(-135.0 + rng.uniform(-20, 20))  # light from the top left

    # background: dark matte plate with a soft shadow of the nut
    bg = jitter_colour(rng, (0.17, 0.18, 0.20), 0.008) * (1.0 + 0.06 * smooth_noise(rng, size, 2, octaves=2))[..., None]
    sdy, sdx = 0.035 * s * np.sin(light + np.pi), 0.035 * s * np.cos(light + np.pi)
    dys, dxs = yy - cy - sdy, xx - cx - sdx
    rs, ths = np.hypot(dys, dxs), np.arctan2(dys, dxs)
    shadow = smoothstep(-0.05 * s, 0.03 * s, _hexagon_radius(ths, rot, radius, 0.94) - rs)
    shadow *= smoothstep(0.30 * radius, 0.48 * radius, rs)
    bg = bg * (1.0 - 0.55 * shadow)[..., None]

    dy, dx = yy - cy, xx - cx
    r, th = np.hypot(dy, dx), np.arctan2(dy, dx)
    r_out = _hexagon_radius(th, rot, radius, 0.94)
    r_in = 0.42 * radius
    fg = np.clip(r_out - r + 0.5, 0, 1) * np.clip(r - r_in + 0.5, 0, 1)

    # metal: brushed concentric face, a bright/dark chamfer ring, threaded bore
    brushed = 0.04 * smooth_noise(rng, size, (6, 6)) + 0.025 * np.sin(2 * np.pi * r / (0.028 * s) + rng.uniform(0, 6.3))
    face = 0.60 + 0.10 * np.cos(2 * (th - light)) + brushed
    chamfer_r = 0.80 * radius * rng.uniform(0.985, 1.015)
    bevel_out = 0.42 + 0.22 * np.cos(th - light)
    t = smoothstep(chamfer_r - 0.6, chamfer_r + 0.6, r)
    shade = face + (bevel_out - face) * t
    bore = smoothstep(r_in + 0.09 * radius, r_in + 0.04 * radius, r)
    threads = 0.30 + 0.12 * np.sin(2 * np.pi * (r - r_in) / (0.022 * s)) - 0.18 * np.cos(th - light)
    shade = shade * (1 - bore) + threads * bore
    metal = jitter_colour(rng, (0.93, 0.94, 0.98), 0.01)
    obj = metal * shade[..., None]
    albedo = lerp(bg, obj, fg)
    return Scene(np.clip(albedo, 0, 1).astype(np.float32), fg.astype(np.float32))


def _capsule_sdf(p: np.ndarray, q: np.ndarray, half: float, rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to a stadium (segment ±``half`` along p, radius ``rad``) and the unsigned core distance."""
    core = np.hypot(np.maximum(np.abs(p) - half, 0.0), q)
    return core - rad, core


def _glyph_alpha(p: np.ndarray, q: np.ndarray, gx: float, h: float, w: float, kind: str) -> np.ndarray:
    """A printed digit-like glyph ("1" bar or "0" ring) of height ``h`` centred at p = ``gx``."""
    if kind == "1":
        d = np.hypot(np.maximum(np.abs(q) - h / 2, 0.0), p - gx)
    else:
        d = np.abs(np.hypot((p - gx) / 0.55, q) - h / 2) * 0.75
    return np.clip(w / 2 + 0.5 - d, 0, 1)


def capsule(rng: np.random.Generator, size: int) -> Scene:
    """A two-coloured pill capsule with a printed code, small rotation and translation."""
    yy, xx = coords(size)
    s = float(size)
    cy, cx = s / 2 + np.clip(rng.normal(0, 0.02 * s, 2), -0.05 * s, 0.05 * s)
    ang = np.deg2rad(rng.uniform(-8.0, 8.0))
    length = 0.76 * s * rng.uniform(0.98, 1.02)
    rad = 0.14 * s * rng.uniform(0.98, 1.02)
    half = length / 2 - rad
    p = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
    q = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)

    # background: light grey with a soft shadow below-right
    bg = jitter_colour(rng, (0.80, 0.80, 0.78), 0.008) * (1.0 + 0.03 * smooth_noise(rng, size, 2, octaves=2))[..., None]
    sd, _ = _capsule_sdf(p - 0.02 * s, q - 0.035 * s, half, rad)
    bg = bg * (1.0 - 0.35 * smoothstep(0.05 * s, -0.02 * s, sd))[..., None]

    sdf, core = _capsule_sdf(p, q, half, rad)
    fg = np.clip(0.5 - sdf, 0, 1)
    height = np.sqrt(np.clip(1.0 - (core / rad) ** 2, 0.0, 1.0))
    seam = rng.uniform(0.02, 0.05) * length
    body = jitter_colour(rng, (0.17, 0.16, 0.16), 0.008)
    cap = jitter_colour(rng, (0.90, 0.50, 0.14), 0.012)
    colour = lerp(body, cap, smoothstep(seam - 0.6, seam + 0.6, p))
    # printed "100" on the dark half, slightly imperfect
    glyph_h, glyph_w = 0.11 * s, max(1.0, 0.018 * s)
    gx0 = -0.28 * length
    ink = np.zeros_like(p)
    for k, kind in enumerate("100"):
        ink = np.maximum(ink, _glyph_alpha(p, q, gx0 + k * 0.10 * length, glyph_h, glyph_w, kind))
    ink *= 0.85 + 0.1 * smooth_noise(rng, size, size / 6)
    colour = lerp(colour, (0.82, 0.80, 0.74), np.clip(ink, 0, 1))
    # cylinder shading, specular band, a thin groove where the halves overlap
    shade = 0.45 + 0.55 * height
    spec = 0.45 * np.exp(-(((q / rad) + 0.45) / 0.16) ** 2) * smoothstep(rad * 0.4, 0.0, sdf + 0.55 * rad)
    groove = 1.0 - 0.35 * np.exp(-(((p - seam) / max(0.7, 0.006 * s)) ** 2))
    obj = colour * (shade * groove)[..., None] + spec[..., None]
    albedo = lerp(bg, obj, fg)
    return Scene(np.clip(albedo, 0, 1).astype(np.float32), fg.astype(np.float32))


OBJECTS = {"nut": nut, "capsule": capsule}
