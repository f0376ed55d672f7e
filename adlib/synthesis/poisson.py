"""Poisson image editing (Pérez et al., SIGGRAPH 2003) with the semantics of OpenCV's ``seamlessClone``.

:func:`seamless_clone` reproduces ``cv2.seamlessClone`` with ``NORMAL_CLONE`` (``mode="normal"``)
and ``MIXED_CLONE`` (``mode="mixed"``), so NSA (Schlüter et al., ECCV 2022;
:mod:`adlib.synthesis.nsa`) can blend its patches without an OpenCV dependency.

How it is solved: a guidance field ``v`` of forward differences takes ``∇src`` on the mask shrunk
by OpenCV's 3×3 erosion (3 iterations; ``erosion=0`` keeps the whole mask) and ``∇dst`` elsewhere;
``mixed`` keeps, per pixel and channel, whichever of ``∇src`` / ``∇dst`` is longer as a
(dx, dy) vector. The discrete Poisson equation ``4 f(p) − Σ_q f(q) = −div v(p)`` (5-point
Laplacian, backward-difference divergence, as OpenCV) is written for the mask pixels only, with
``f = dst`` on every other pixel (Dirichlet boundary). The sparse system is LU-factorised once
with SuperLU (``scipy.sparse.linalg.splu``) and solved for all channels at once in float64; the
result is rounded (half to even) and clipped to uint8.

Conventions, and known differences from OpenCV 4.x (measured against ``opencv-python-headless``
4.10 / 5.0 on smooth random images: mean |difference| inside the mask ≈ 1 grey level for
``normal``, 0.5–3.6 for ``mixed``):

- Placement: the patch's top-left corner lands on ``(y − H_s // 2, x − W_s // 2)`` for
  ``center = (x, y)``, and the whole patch must fit inside ``dst``. OpenCV centres the *bounding
  box of the mask* on ``center`` instead (the same whenever that box is centred in the patch,
  e.g. a full mask) and only needs that box to fit.
- As in OpenCV, the first/last row and column of the mask are zeroed (mask pixels there are not
  cloned), so every cloned pixel has its four neighbours inside the patch.
- Only mask pixels are unknowns, so every pixel outside the mask is exactly ``dst``. OpenCV
  solves over the whole bounding box of the mask (its non-mask pixels follow ``∇dst`` but may
  drift by a few grey levels) with a float32 DST solver, and truncates instead of rounding
  (its results are ≈ 0.5 grey level darker).
- ``mixed`` compares the gradient magnitudes ``dx² + dy²``; OpenCV compares ``|dx − dy|``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import splu

__all__ = ["seamless_clone"]

_MODES = ("normal", "mixed")


def _validate(src, dst, mask, center, mode):
    """Check the inputs; returns ``(src, dst, mask, r0, c0, squeeze)`` with H×W×C images and a
    bool mask whose border is zeroed, ``(r0, c0)`` the patch's top-left corner in ``dst``."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    src, dst, mask = np.asarray(src), np.asarray(dst), np.asarray(mask)
    for name, a in (("src", src), ("dst", dst)):
        if a.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8, got {a.dtype}")
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] < 1):
            raise ValueError(f"{name} must be H×W or H×W×C, got shape {a.shape}")
    if src.ndim != dst.ndim or (src.ndim == 3 and src.shape[2] != dst.shape[2]):
        raise ValueError(f"src and dst channels differ: shapes {src.shape} and {dst.shape}")
    squeeze = dst.ndim == 2
    if squeeze:
        src, dst = src[..., None], dst[..., None]
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2 or mask.shape != src.shape[:2]:
        raise ValueError(f"mask must be H_s×W_s = {src.shape[:2]}, got shape {mask.shape}")
    if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
        raise ValueError(f"mask must be bool or numeric, got {mask.dtype}")
    try:
        x, y = (int(v) for v in center)
    except (TypeError, ValueError):
        raise ValueError(f"center must be an (x, y) pair of ints, got {center!r}") from None
    hs, ws = src.shape[:2]
    h, w = dst.shape[:2]
    r0, c0 = y - hs // 2, x - ws // 2
    if r0 < 0 or c0 < 0 or r0 + hs > h or c0 + ws > w:
        raise ValueError(f"patch {hs}×{ws} centred at (x={x}, y={y}) covers rows {r0}:{r0 + hs}, "
                         f"cols {c0}:{c0 + ws}, outside dst of size {h}×{w}")
    m = mask != 0
    m[0, :] = m[-1, :] = False  # OpenCV zeroes the mask border
    m[:, 0] = m[:, -1] = False
    if not m.any():
        raise ValueError("mask is empty (mask pixels on the patch border are ignored, as in OpenCV)")
    return src, dst, m, r0, c0, squeeze


def _solve_float(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, center: tuple[int, int],
                 mode: str = "normal", *, erosion: int = 3) -> np.ndarray:
    """The float64 solution before rounding: ``dst`` as float64 (same shape) with the mask pixels
    replaced by the solution of the Poisson equation (see the module docstring and
    :func:`seamless_clone` for the arguments)."""
    if isinstance(erosion, bool) or not isinstance(erosion, (int, np.integer)) or erosion < 0:
        raise ValueError(f"erosion must be an int >= 0, got {erosion!r}")
    src, dst, m, r0, c0, squeeze = _validate(src, dst, mask, center, mode)
    h, w = dst.shape[:2]
    out = dst.astype(np.float64)

    # working box: the mask's bounding box in dst, grown by 1 px (clipped to dst)
    rows, cols = np.nonzero(m)
    b0, b1 = max(r0 + rows.min() - 1, 0), min(r0 + rows.max() + 2, h)
    a0, a1 = max(c0 + cols.min() - 1, 0), min(c0 + cols.max() + 2, w)
    box_m = m[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
    unknown = np.zeros_like(box_m)
    unknown[1:-1, 1:-1] = box_m[1:-1, 1:-1]  # pixels on the box edge stay Dirichlet (dst)
    S = src[b0 - r0:b1 - r0, a0 - c0:a1 - c0].astype(np.float64)
    D = out[b0:b1, a0:a1]

    # forward differences at the pixels (i, j), i < bh-1, j < bw-1 (the only ones the equation needs)
    gxs, gys = S[:-1, 1:] - S[:-1, :-1], S[1:, :-1] - S[:-1, :-1]
    gxd, gyd = D[:-1, 1:] - D[:-1, :-1], D[1:, :-1] - D[:-1, :-1]
    # ∇src only where the mask survives OpenCV's erosion (outside the mask counts as 0)
    inner_m = binary_erosion(box_m, np.ones((3, 3), bool), iterations=erosion) if erosion > 0 else box_m
    use_src = np.broadcast_to(inner_m[:-1, :-1, None], gxs.shape)
    if mode == "mixed":
        use_src = use_src & (gxs * gxs + gys * gys > gxd * gxd + gyd * gyd)
    vx, vy = np.where(use_src, gxs, gxd), np.where(use_src, gys, gyd)
    # divergence (backward differences) at the box's interior pixels
    div = vx[1:, 1:] - vx[1:, :-1] + vy[1:, 1:] - vy[:-1, 1:]

    ii, jj = np.nonzero(unknown)
    n = ii.size
    if n == 0:  # only possible when the box is clipped by the dst border
        return out[..., 0] if squeeze else out
    idx = np.full(unknown.shape, -1, dtype=np.int64)
    idx[ii, jj] = np.arange(n)
    rhs = -div[ii - 1, jj - 1]
    r_list, c_list = [np.arange(n)], [np.arange(n)]
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ni, nj = ii + di, jj + dj
        nb = idx[ni, nj]
        inner = nb >= 0
        r_list.append(np.flatnonzero(inner))
        c_list.append(nb[inner])
        rhs[~inner] += D[ni[~inner], nj[~inner]]  # Dirichlet neighbours
    r_idx, c_idx = np.concatenate(r_list), np.concatenate(c_list)
    vals = np.full(r_idx.size, -1.0)
    vals[:n] = 4.0
    A = csc_matrix((vals, (r_idx, c_idx)), shape=(n, n))
    # A is symmetric: minimum-degree ordering on A^T + A gives much less fill than COLAMD;
    # one factorisation, all channels solved at once (200×200 mask, 3 channels: ≈ 0.13 s in all
    # on 2 cores; COLAMD ordering ≈ 0.18 s, natural ordering ≈ 1.7 s)
    lu = splu(A, permc_spec="MMD_AT_PLUS_A")
    D[ii, jj] = lu.solve(rhs)
    return out[..., 0] if squeeze else out


def seamless_clone(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, center: tuple[int, int],
                   mode: str = "normal", *, erosion: int = 3) -> np.ndarray:
    """Poisson-blend the patch ``src`` into ``dst`` (OpenCV ``seamlessClone`` semantics).

    ``src``: H_s×W_s×C uint8 patch; ``dst``: H×W×C uint8 (same C; H×W grey images work too);
    ``mask``: H_s×W_s, nonzero = clone region (its first/last rows and columns are ignored, as in
    OpenCV); ``center``: ``(x, y)`` = (column, row) in ``dst`` where the patch centre goes, i.e.
    the patch's top-left corner lands on row ``y − H_s // 2``, column ``x − W_s // 2``;
    ``mode``: ``"normal"`` (``NORMAL_CLONE``: the patch's gradients) or ``"mixed"``
    (``MIXED_CLONE``: per pixel and channel the stronger of the patch's and dst's gradients);
    ``erosion``: the patch's gradients are used only on the mask eroded this many times by a 3×3
    square (OpenCV: 3, so a 3-pixel band inside the mask edge follows ``dst``'s gradients);
    0 uses them on the whole mask (textbook Pérez et al.).

    Returns a new uint8 image shaped like ``dst`` (which is left untouched); pixels outside the
    placed mask are exactly ``dst``. Raises ``ValueError`` for a bad mode, mismatched shapes,
    channels or dtypes, a patch that does not fit inside ``dst``, or an empty mask.

    Timing (2-core CPU, numpy 2.4 / scipy 1.17): a 200×200 mask on 3 channels takes ≈ 0.13 s,
    ~0.12 s of it the LU factorisation.
    """
    f = _solve_float(src, dst, mask, center, mode, erosion=erosion)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)
