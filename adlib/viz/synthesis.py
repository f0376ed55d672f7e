"""The synthesis zoo on one image: every strategy's synthetic image above its label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.patches import Patch

from ._common import as_mask, new_figure, style_image_axes

CHANGED_COLOR = (1.0, 0.5, 0.05)  # pixels that changed but are not labelled (orange)

__all__ = ["CHANGED_COLOR", "synthesis_gallery"]


def _display(image) -> tuple[np.ndarray, float]:
    """H×W×3 float in [0, 1] for imshow (grey repeated; floats in 0–255 units), and the max in grey levels."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr
    arr = arr.astype(np.float64)
    return np.clip(arr / 255.0, 0.0, 1.0), float(arr.max())


def _run(strategies, image, source, seed) -> dict:
    """``{name: (synthetic image, label)}``; callables are run with ``np.random.default_rng(seed)``."""
    if not isinstance(strategies, Mapping):
        strategies = {getattr(s, "name", type(s).__name__): s for s in strategies}
    out = {}
    for name, s in strategies.items():
        if callable(s):
            src = source if getattr(s, "needs_source", False) else None
            s = s(image, src, np.random.default_rng(seed))
        out[name] = (s[0], s[1])
    return out


def synthesis_gallery(image, strategies: Mapping | Sequence, source=None, seed: int = 0, cell: float = 1.8,
                      title: str | None = None, changed_tol: float = 0.5):
    """Every strategy on one image: row 1 the input and each synthetic image, row 2 each label.

    ``image``: H×W×3 (or H×W) uint8. ``strategies``: a mapping ``name → strategy`` (a callable
    ``(dest, src, rng) -> (image, label)``, run with ``np.random.default_rng(seed)`` and, when it
    ``needs_source``, ``source``) or ``name → (image, label)`` already drawn; or a sequence of
    strategies named by ``.name``. Labels are white on black; pixels that changed by more than
    ``changed_tol`` grey levels outside the label are orange, and each label panel states the
    label's area and that count (e.g. DM-GRD's code brightens the whole image). Float outputs
    (Fourier + Perlin) are clipped to [0, 255] for display and their maximum is written.
    """
    results = _run(strategies, image, source, seed)
    if not results:
        raise ValueError("synthesis_gallery needs at least one strategy")
    base, _ = _display(image)
    ncols = len(results) + 1
    fig = new_figure(cell * ncols + 0.4, 2 * cell + 1.0)
    axes = np.asarray(fig.subplots(2, ncols, squeeze=False))
    axes[0, 0].imshow(base, interpolation="nearest")
    axes[0, 0].set_title("input", fontsize=9)
    axes[0, 0].set_ylabel("image", fontsize=9)
    axes[1, 0].set_ylabel("label", fontsize=9)
    grey = np.asarray(image, np.float64).reshape(base.shape[0], base.shape[1], -1)
    for c, (name, (synth, label)) in enumerate(results.items(), start=1):
        shown, top = _display(synth)
        axes[0, c].imshow(shown, interpolation="nearest")
        axes[0, c].set_title(name, fontsize=9)
        if top > 255.5:
            axes[0, c].set_xlabel(f"float, max {top / 255:.2f}×255 (clipped)", fontsize=7)
        diff = np.abs(np.asarray(synth, np.float64).reshape(grey.shape) - grey).max(axis=-1)
        lab = as_mask(label)
        extra = (diff > changed_tol) & ~lab
        panel = np.repeat(lab[..., None].astype(np.float64), 3, axis=-1)
        panel[extra] = CHANGED_COLOR
        axes[1, c].imshow(panel, interpolation="nearest")
        axes[1, c].set_xlabel(f"label {100 * lab.mean():.1f} %\nchanged outside {100 * extra.mean():.1f} %",
                              fontsize=7)
    for ax in axes.ravel():
        style_image_axes(ax)
    handles = [Patch(facecolor="white", edgecolor="black", label="label"),
               Patch(facecolor=CHANGED_COLOR, label=f"changed > {changed_tol:g} grey levels, not labelled")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
