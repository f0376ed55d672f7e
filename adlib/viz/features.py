"""Feature maps shown as colour: the first three principal components → RGB (as MRKD Fig. 9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._common import as_numpy, as_rgb, image_extent, new_figure, split_batch, style_image_axes

__all__ = ["feature_pca_rgb", "pca_figure"]


def feature_pca_rgb(features, q: tuple[float, float] = (0.01, 0.99), max_fit_pixels: int = 200_000,
                    seed: int = 0) -> np.ndarray:
    """Project every feature vector onto the first three principal components, scaled to [0, 1].

    ``features``: ``C×H×W`` → ``H×W×3``; ``B×C×H×W`` → ``B×H×W×3``. For a batch, one PCA is fitted
    on all images' pixels together and one scaling is used, so a colour means the same thing in
    every image (identical feature vectors get identical colours). Each component is clipped to its
    ``q`` quantiles before scaling (a few outliers would otherwise grey out the rest); the sign of
    each component is fixed (largest loading positive) so the colours are deterministic. At most
    ``max_fit_pixels`` pixels (sampled with ``seed``) are used to fit; all are projected.
    """
    arr = as_numpy(features)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"expected features C×H×W or B×C×H×W, got shape {as_numpy(features).shape}")
    b, c, h, w = arr.shape
    x = np.moveaxis(arr, 1, -1).reshape(-1, c).astype(np.float32)
    fit = x
    if x.shape[0] > max_fit_pixels:
        rows = np.random.default_rng(seed).choice(x.shape[0], max_fit_pixels, replace=False)
        fit = x[np.sort(rows)]
    mean = fit.mean(axis=0, dtype=np.float64)
    centred = fit - mean.astype(np.float32)
    cov = (centred.T.astype(np.float64) @ centred.astype(np.float64)) / max(fit.shape[0] - 1, 1)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    k = min(3, c)
    basis = evecs[:, ::-1][:, :k]
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(k)])
    basis = basis * np.where(signs == 0, 1.0, signs)
    proj = (x - mean.astype(np.float32)) @ basis.astype(np.float32)
    if k < 3:
        proj = np.concatenate([proj, np.zeros((proj.shape[0], 3 - k), np.float32)], axis=1)
    lo = np.quantile(proj, q[0], axis=0)
    hi = np.quantile(proj, q[1], axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    rgb = np.clip((proj - lo) / span, 0.0, 1.0)
    rgb[:, hi <= lo] = 0.5  # a constant component: mid grey rather than an arbitrary extreme
    rgb = rgb.reshape(b, h, w, 3)
    return rgb[0] if single else rgb


def pca_figure(images, features, titles: Sequence[str] | None = None, cell: float = 2.3,
               q: tuple[float, float] = (0.01, 0.99)):
    """Rows = images; columns = input and the PCA colouring of each feature set.

    ``features`` is one ``B×C×H×W`` batch or a dict ``name -> B×C×H×W`` (e.g. teacher, student,
    bottleneck); each set gets its own PCA, fitted jointly over the batch.
    """
    imgs = split_batch(images, "images")
    sets = dict(features) if isinstance(features, Mapping) else {"features": features}
    coloured = {name: feature_pca_rgb(f, q=q) for name, f in sets.items()}
    for name, rgb in coloured.items():
        if rgb.ndim == 3:
            coloured[name] = rgb = rgb[None]
        if rgb.shape[0] != len(imgs):
            raise ValueError(f"features {name!r} hold {rgb.shape[0]} maps for {len(imgs)} images")
    ncols = 1 + len(coloured)
    fig = new_figure(cell * ncols, cell * len(imgs) + 0.7)
    axes = np.asarray(fig.subplots(len(imgs), ncols, squeeze=False))
    for r, image in enumerate(imgs):
        rgb = as_rgb(image)
        axes[r, 0].imshow(rgb, interpolation="bilinear")
        style_image_axes(axes[r, 0])
        if titles is not None:
            axes[r, 0].set_ylabel(str(titles[r]), fontsize=8)
        for c, (name, col) in enumerate(coloured.items(), start=1):
            pc = col[r]
            axes[r, c].imshow(pc, extent=image_extent(rgb.shape), interpolation="nearest")
            style_image_axes(axes[r, c])
            if r == len(imgs) - 1:
                axes[r, c].set_xlabel(f"{pc.shape[0]}×{pc.shape[1]} features", fontsize=7.5)
    axes[0, 0].set_title("input", fontsize=9)
    for c, name in enumerate(coloured, start=1):
        axes[0, c].set_title(name, fontsize=9)
    fig.suptitle("features → first 3 principal components as RGB (one PCA per column, fitted on all rows)",
                 fontsize=8.5)
    return fig
