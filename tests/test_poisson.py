"""Poisson image editing (adlib.synthesis.poisson): OpenCV seamlessClone semantics without OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from adlib.synthesis.poisson import _solve_float, seamless_clone

MODES = ("normal", "mixed")


def _blob_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An irregular (non-convex, non-rectangular) uint8 mask: an ellipse plus a random bump, minus a notch."""
    yy, xx = np.mgrid[:h, :w]
    m = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.42 * w)) ** 2 <= 1
    cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
    m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= (min(h, w) // 4) ** 2
    m[h // 2 - 2:h // 2 + 2, : w // 3] = False  # a notch from the left
    return (m * 255).astype(np.uint8)


def _smooth(rng: np.random.Generator, h: int, w: int, lo: int, hi: int, c: int = 3) -> np.ndarray:
    """A random smooth uint8 image: a few low-frequency plane waves per channel, scaled to [lo, hi]."""
    yy, xx = np.mgrid[:h, :w] / 64.0
    out = np.zeros((h, w, c))
    for k in range(c):
        for _ in range(3):
            fy, fx = rng.uniform(-1.0, 1.0, 2)
            out[..., k] += np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
    out = (out - out.min()) / (out.max() - out.min())
    return np.round(lo + out * (hi - lo)).astype(np.uint8)


def _placed_mask(mask: np.ndarray, dst_shape: tuple[int, ...], center: tuple[int, int]) -> np.ndarray:
    """The clone region in dst coordinates (mask border zeroed, as seamless_clone does)."""
    hs, ws = mask.shape
    r0, c0 = center[1] - hs // 2, center[0] - ws // 2
    m = mask != 0
    m[0, :] = m[-1, :] = False
    m[:, 0] = m[:, -1] = False
    out = np.zeros(dst_shape[:2], bool)
    out[r0:r0 + hs, c0:c0 + ws] = m
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("erosion", [0, 3])
def test_identical_source_gives_dst(mode, erosion):
    rng = np.random.default_rng(0)
    dst = rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)
    center = (30, 22)  # patch 25×31 -> top-left (row 22-12, col 30-15)
    src = dst[10:35, 15:46].copy()
    mask = _blob_mask(25, 31, rng)
    out = seamless_clone(src, dst, mask, center, mode, erosion=erosion)
    np.testing.assert_array_equal(out, dst)


@pytest.mark.parametrize("erosion", [0, 3])
def test_constant_offset_source_keeps_dst(erosion):
    rng = np.random.default_rng(1)
    dst = rng.integers(0, 200, (40, 40, 3), dtype=np.uint8)
    src = (dst[8:33, 6:35].astype(np.int16) + 40).astype(np.uint8)  # <= 239: no clipping
    mask = np.full(src.shape[:2], 255, np.uint8)
    out = seamless_clone(src, dst, mask, (6 + 29 // 2, 8 + 25 // 2), "normal", erosion=erosion)
    assert np.abs(out.astype(int) - dst.astype(int)).max() <= 1


def test_normal_clone_transfers_the_source_content():
    """Constant dst, src = a bright square on a background equal to dst: the square comes through."""
    dst = np.full((50, 50, 3), 100, np.uint8)
    src = np.full((31, 31, 3), 100, np.uint8)
    src[10:21, 12:19] = (200, 150, 30)
    out = seamless_clone(src, dst, np.ones((31, 31), bool), (25, 25))
    np.testing.assert_array_equal(out[20:31, 22:29], np.broadcast_to([200, 150, 30], (11, 7, 3)))
    assert np.abs(out[30, 5:20].astype(int) - 100).max() <= 1  # the flat part stays flat


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(60, 70, 3), (60, 70, 1), (60, 70)])
def test_outside_mask_untouched_dtype_shape(mode, shape):
    rng = np.random.default_rng(2)
    dst = rng.integers(0, 256, shape, dtype=np.uint8)
    src = rng.integers(0, 256, (33, 27) + shape[2:], dtype=np.uint8)
    mask = _blob_mask(33, 27, rng)
    dst_before, mask_before = dst.copy(), mask.copy()
    center = (40, 25)
    out = seamless_clone(src, dst, mask, center, mode)
    assert out.dtype == np.uint8 and out.shape == dst.shape
    np.testing.assert_array_equal(dst, dst_before)  # inputs untouched
    np.testing.assert_array_equal(mask, mask_before)
    inside = _placed_mask(mask, shape, center)
    np.testing.assert_array_equal(out[~inside], dst[~inside])
    assert (out[inside] != dst[inside]).any()  # random src: the mask region did change


def _eroded(m: np.ndarray, k: int) -> np.ndarray:
    """k iterations of 3×3 erosion = the (2k+1)×(2k+1) window is all mask (outside = not mask)."""
    if k == 0:
        return m.copy()
    padded = np.pad(m, k, constant_values=False)
    return sliding_window_view(padded, (2 * k + 1, 2 * k + 1)).all(axis=(-2, -1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("erosion", [0, 3])
def test_float_solution_satisfies_discrete_poisson_equation(mode, erosion):
    """4 f(p) − Σ_q f(q) = −div v(p) on every mask pixel, v = forward-difference guidance field."""
    rng = np.random.default_rng(3)
    dst = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    src = rng.integers(0, 256, (35, 41, 3), dtype=np.uint8)
    mask = _blob_mask(35, 41, rng)
    center = (29, 24)
    f = _solve_float(src, dst, mask, center, mode, erosion=erosion)
    assert f.dtype == np.float64 and f.shape == dst.shape

    r0, c0 = center[1] - 35 // 2, center[0] - 41 // 2
    inside = _placed_mask(mask, dst.shape, center)
    np.testing.assert_array_equal(f[~inside], dst[~inside].astype(np.float64))
    g_src = dst.astype(np.float64)
    g_src[r0:r0 + 35, c0:c0 + 41] = src
    g_dst = dst.astype(np.float64)

    def grads(g):
        gx, gy = np.zeros_like(g), np.zeros_like(g)
        gx[:, :-1] = g[:, 1:] - g[:, :-1]
        gy[:-1] = g[1:] - g[:-1]
        return gx, gy

    (sx, sy), (dx, dy) = grads(g_src), grads(g_dst)
    use_src = np.repeat(_eroded(inside, erosion)[..., None], 3, axis=-1)
    if mode == "mixed":
        use_src &= sx**2 + sy**2 > dx**2 + dy**2
    vx, vy = np.where(use_src, sx, dx), np.where(use_src, sy, dy)
    ii, jj = np.nonzero(inside)
    lap = 4 * f[ii, jj] - f[ii - 1, jj] - f[ii + 1, jj] - f[ii, jj - 1] - f[ii, jj + 1]
    neg_div = -(vx[ii, jj] - vx[ii, jj - 1] + vy[ii, jj] - vy[ii - 1, jj])
    assert np.abs(lap - neg_div).max() < 1e-6
    rounded = seamless_clone(src, dst, mask, center, mode, erosion=erosion)
    np.testing.assert_array_equal(rounded, np.clip(np.rint(f), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("erosion", [0, 3])
def test_mixed_keeps_dst_texture_normal_is_smooth(erosion):
    yy, xx = np.mgrid[:64, :64]
    checker = (yy // 2 + xx // 2) % 2  # 2×2-pixel checkerboard
    dst = np.where(checker[..., None] == 1, 190, 60).astype(np.uint8).repeat(3, axis=-1)
    src = np.full((40, 40, 3), 128, np.uint8)
    mask = np.full((40, 40), 255, np.uint8)
    rows = cols = slice(13, 51)  # the clone region: patch rows/cols 12..51 minus the border
    inner = (slice(17, 47), slice(17, 47))  # 4 px further in
    mixed = seamless_clone(src, dst, mask, (32, 32), "mixed", erosion=erosion)
    normal = seamless_clone(src, dst, mask, (32, 32), "normal", erosion=erosion)
    assert np.abs(mixed[rows, cols].astype(int) - dst[rows, cols]).mean() < 1.0
    dst_var = dst[rows, cols].astype(float).var()
    assert normal[rows, cols].astype(float).var() < 0.5 * dst_var
    assert normal[inner].astype(float).var() < 0.01 * dst_var


def test_erosion_changes_the_result_near_the_mask_edge():
    rng = np.random.default_rng(4)
    dst = _smooth(rng, 50, 50, 20, 230)
    src = _smooth(rng, 31, 31, 20, 230)
    mask = np.full((31, 31), 255, np.uint8)
    a = seamless_clone(src, dst, mask, (25, 25), erosion=0)
    b = seamless_clone(src, dst, mask, (25, 25), erosion=3)
    assert (a != b).any()
    np.testing.assert_array_equal(seamless_clone(src, dst, mask, (25, 25)), b)  # default = OpenCV's 3


def test_errors():
    rng = np.random.default_rng(5)
    dst = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    src = rng.integers(0, 256, (11, 13, 3), dtype=np.uint8)
    mask = np.full((11, 13), 255, np.uint8)
    seamless_clone(src, dst, mask, (6, 5))  # touches the top-left corner exactly: fine
    seamless_clone(src, dst, mask, (40 - 7, 40 - 6))  # and the bottom-right one
    for center in [(5, 5), (6, 4), (34, 20), (20, 35), (-3, 20)]:
        with pytest.raises(ValueError, match="outside dst"):
            seamless_clone(src, dst, mask, center)
    with pytest.raises(ValueError, match="channels"):
        seamless_clone(src[..., :1], dst, mask, (20, 20))
    with pytest.raises(ValueError, match="channels"):
        seamless_clone(src[..., 0], dst, mask, (20, 20))
    with pytest.raises(ValueError, match="uint8"):
        seamless_clone(src.astype(np.float32), dst, mask, (20, 20))
    with pytest.raises(ValueError, match="mask must be"):
        seamless_clone(src, dst, mask[:-1], (20, 20))
    with pytest.raises(ValueError, match="empty"):
        seamless_clone(src, dst, np.zeros_like(mask), (20, 20))
    border_only = np.zeros_like(mask)
    border_only[0, :] = border_only[:, -1] = 255
    with pytest.raises(ValueError, match="empty"):
        seamless_clone(src, dst, border_only, (20, 20))
    with pytest.raises(ValueError, match="mode"):
        seamless_clone(src, dst, mask, (20, 20), "monochrome")
    with pytest.raises(ValueError, match="erosion"):
        seamless_clone(src, dst, mask, (20, 20), erosion=-1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_kind", ["full", "ellipse"])
def test_matches_opencv(mode, mask_kind):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    dst = _smooth(rng, 64, 80, 40, 210)
    src = _smooth(rng, 33, 41, 60, 190)
    if mask_kind == "full":
        mask = np.full((33, 41), 255, np.uint8)
    else:  # centred in the patch, so OpenCV's bounding-box centring places it the same way
        yy, xx = np.mgrid[:33, :41]
        mask = ((((yy - 16) / 14) ** 2 + ((xx - 20) / 18) ** 2 <= 1) * 255).astype(np.uint8)
    center = (40, 32)
    flag = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}[mode]
    ref = cv2.seamlessClone(src, dst, mask.copy(), center, flag)  # OpenCV 5.0 overwrites the mask
    out = seamless_clone(src, dst, mask, center, mode)
    inside = _placed_mask(mask, dst.shape, center)
    assert np.abs(out[inside].astype(int) - ref[inside].astype(int)).mean() < 3
