"""Texture categories: stationary patterns that fill the whole image (foreground = everywhere).

Each renderer takes the image's scene generator and the size and returns a :class:`Scene`.
Normal images differ in phase/offset, small rotation, thread/ring jitter and fine noise.
"""

from __future__ import annotations

import numpy as np

from ._draw import Scene, coords, jitter_colour, lerp, noise_1d, smooth_noise, smoothstep


def weave(rng: np.random.Generator, size: int) -> Scene:
    """A 2/2 twill woven fabric (carpet-like): warp and weft threads floating over two threads."""
    yy, xx = coords(size)
    pitch = size / rng.uniform(12.0, 13.0)  # thread spacing in pixels
    ang = np.deg2rad(rng.uniform(-4.0, 4.0))
    ca, sa = np.cos(ang), np.sin(ang)
    wobble = 0.10 * smooth_noise(rng, size, 3)
    a = (xx * ca + yy * sa) / pitch + rng.uniform(0, 4) + wobble
    b = (-xx * sa + yy * ca) / pitch + rng.uniform(0, 4) - 0.5 * wobble
    i, j = np.floor(a), np.floor(b)
    fa, fb = a - i, b - j
    phase = np.mod(i + j, 4)
    warp_top = phase < 2
    # cross-section of each thread (0 in the gaps, 1 on the crown) and its arch along a 2-cell float
    prof_w = np.sin(np.pi * fa) ** 0.55
    prof_f = np.sin(np.pi * fb) ** 0.55
    arch_w = np.sin(np.pi * (phase + fb) / 2)
    arch_f = np.sin(np.pi * (phase - 2 + fa) / 2)
    shade = np.where(warp_top, prof_w * (0.72 + 0.28 * arch_w), prof_f * (0.72 + 0.28 * arch_f))
    # every thread has its own tone
    n_thr = 64
    tone_w = rng.normal(0.0, 0.035, n_thr).astype(np.float32)[np.mod(i, n_thr).astype(int)]
    tone_f = rng.normal(0.0, 0.035, n_thr).astype(np.float32)[np.mod(j, n_thr).astype(int)]
    tone = np.where(warp_top, tone_w, tone_f)
    warp_c = jitter_colour(rng, (0.58, 0.47, 0.35), 0.006)
    weft_c = jitter_colour(rng, (0.66, 0.57, 0.43), 0.006)
    base = np.where(warp_top[..., None], warp_c, weft_c)
    fibre = 0.035 * smooth_noise(rng, size, size / 3.0)
    light = (0.30 + 0.70 * shade) * (1.0 + tone + fibre)
    albedo = base * light[..., None]
    return Scene(np.clip(albedo, 0, 1).astype(np.float32), np.ones((size, size), np.float32))


def grain(rng: np.random.Generator, size: int) -> Scene:
    """Wood: warped growth rings with fine along-grain streaks and pores."""
    yy, xx = coords(size)
    u, v = xx / size, yy / size
    ang = np.deg2rad(rng.uniform(-6.0, 6.0))
    along = u * np.cos(ang) + v * np.sin(ang)
    across = -u * np.sin(ang) + v * np.cos(ang)
    warp = 0.07 * smooth_noise(rng, size, 2.5, octaves=2) + rng.uniform(-0.08, 0.08) * (along - 0.5) ** 2
    freq = rng.uniform(6.5, 8.0)
    t = (across + warp) * freq + rng.uniform(0, 1)
    ring = 0.5 + 0.5 * np.cos(2 * np.pi * t)
    ring = ring ** 3  # narrow dark late-wood bands
    streak = noise_1d(rng, (across + 0.3 * warp) * size / 2.2 + rng.uniform(0, 50), 256)
    streak2 = 0.5 * smooth_noise(rng, size, (size / 3.0, 4.0))
    pores = smoothstep(2.2, 2.8, smooth_noise(rng, size, (size / 5.0, size / 16.0)))
    light = jitter_colour(rng, (0.80, 0.62, 0.43), 0.015)
    dark = jitter_colour(rng, (0.55, 0.36, 0.22), 0.015)
    mix = np.clip(0.62 * ring + 0.10 * streak + 0.08 * streak2 + 0.25 + 0.05 * np.sin(7 * along), 0, 1)
    albedo = lerp(light, dark, mix) * (1.0 - 0.25 * pores)[..., None]
    albedo *= (1.0 + 0.02 * smooth_noise(rng, size, size / 2.5))[..., None]
    return Scene(np.clip(albedo, 0, 1).astype(np.float32), np.ones((size, size), np.float32))


def tile(rng: np.random.Generator, size: int) -> Scene:
    """Terrazzo-like floor tiles: speckled slabs separated by grout lines, random grid offset."""
    yy, xx = coords(size)
    pitch = size / rng.uniform(2.5, 2.7)
    a = (xx + rng.uniform(0, pitch)) / pitch
    b = (yy + rng.uniform(0, pitch)) / pitch
    i, j = np.floor(a), np.floor(b)
    fa, fb = a - i, b - j
    edge = np.minimum(np.minimum(fa, 1 - fa), np.minimum(fb, 1 - fb)) * pitch  # px to nearest grout
    grout_w = 0.035 * size
    slab = smoothstep(grout_w / 2 - 0.6, grout_w / 2 + 0.6, edge)
    bevel = smoothstep(grout_w / 2, grout_w / 2 + 0.03 * size, edge)
    tone = rng.normal(0.0, 0.025, 16).astype(np.float32)[np.mod(i * 4 + j, 16).astype(int)]
    base = jitter_colour(rng, (0.76, 0.74, 0.69), 0.006)
    chip_dark = smoothstep(1.5, 2.0, smooth_noise(rng, size, size / 4.5))
    chip_light = smoothstep(1.7, 2.2, smooth_noise(rng, size, size / 6.0))
    chip_red = smoothstep(2.0, 2.4, smooth_noise(rng, size, size / 7.0))
    cloud = 0.03 * smooth_noise(rng, size, 6, octaves=2)
    albedo = base * (1.0 + tone + cloud)[..., None]
    albedo = lerp(albedo, (0.30, 0.30, 0.32), 0.85 * chip_dark)
    albedo = lerp(albedo, (0.93, 0.92, 0.88), 0.8 * chip_light)
    albedo = lerp(albedo, (0.62, 0.38, 0.30), 0.8 * chip_red)
    albedo *= (0.88 + 0.12 * bevel)[..., None]
    grout = jitter_colour(rng, (0.46, 0.45, 0.43), 0.01) * (1.0 + 0.05 * smooth_noise(rng, size, size / 4))[..., None]
    albedo = lerp(grout, albedo, slab)
    return Scene(np.clip(albedo, 0, 1).astype(np.float32), np.ones((size, size), np.float32))


TEXTURES = {"weave": weave, "grain": grain, "tile": tile}
