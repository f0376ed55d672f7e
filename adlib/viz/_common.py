"""Shared plumbing for the figure functions: array conversion, normalisation ranges, figures.

Every figure function in :mod:`adlib.viz` accepts numpy arrays *or* torch tensors. Torch is never
imported here: a tensor is recognised by duck typing, so ``import adlib.viz`` stays light.

Conventions (see ``docs`` / ecosystem notes, "Plotting"):

- images: ``3×H×W`` (ImageNet-normalised, as every adlib dataset returns them, denormalised here)
  or ``H×W×3`` uint8 / float in [0, 1]; ``H×W`` greyscale is accepted too. An already displayable
  ``H×W×3`` float array is passed through, so call :func:`as_rgb` yourself with ``imagenet=False``
  for a ``3×H×W`` tensor in [0, 1] (a dataset built with ``normalize=None``).
- maps: ``H×W`` (leading singleton axes such as ``1×H×W`` are squeezed).
- masks: ``H×W`` binary (``1×H×W`` float in {0, 1} from the sample schema works as is).
- figures are plain :class:`matplotlib.figure.Figure` objects that pyplot does not track, so batch
  runs never accumulate open figures; :func:`save_figure` writes a PNG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

NORMS = ("per_image", "global", "fixed")

__all__ = [
    "NORMS",
    "AdlibFigure",
    "figure_png",
    "as_map",
    "as_mask",
    "as_numpy",
    "as_rgb",
    "global_range",
    "new_figure",
    "norm_label",
    "resolve_range",
    "save_figure",
    "split_batch",
]



HEATMAP_CMAP = "inferno"  # perceptually uniform (issue 15); pass cmap="jet" for the papers' figures

def _is_tensor(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def as_numpy(x) -> np.ndarray:
    """A numpy view of an array-like or a torch tensor (detached, on the CPU, bf16/fp16 → fp32)."""
    if _is_tensor(x):
        x = x.detach().cpu()
        if x.is_floating_point() and x.dtype.itemsize < 4:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def as_rgb(image, imagenet: bool | None = None) -> np.ndarray:
    """Any supported image → ``H×W×3`` float array in [0, 1] for ``imshow``.

    ``imagenet=None`` (auto) undoes ImageNet normalisation for channel-first ``3×H×W`` input (the
    sample schema) and leaves channel-last input alone; pass ``True``/``False`` to force it.
    """
    if _is_tensor(image):
        if imagenet is not False and image.ndim == 3 and image.shape[0] == 3:
            from adlib.data.transforms import denormalize

            image = denormalize(image.detach().cpu().float())
            imagenet = False
        arr = as_numpy(image)
    else:
        arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        if arr.shape[0] == 1:
            arr = arr[0]
        else:
            arr = np.moveaxis(arr, 0, -1)
            if imagenet is None:
                imagenet = True
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an image 3×H×W, H×W×3 or H×W, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if imagenet:
        from adlib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

        arr = arr * np.asarray(IMAGENET_STD, np.float32) + np.asarray(IMAGENET_MEAN, np.float32)
    elif arr.max(initial=0.0) > 1.0 + 1e-6 and arr.max() <= 255.0 and arr.min(initial=0.0) >= 0.0:
        arr = arr / 255.0  # float copy of a uint8 image
    return np.clip(arr, 0.0, 1.0)


def as_map(amap) -> np.ndarray:
    """An anomaly map → ``H×W`` float64 (leading singleton axes squeezed)."""
    arr = as_numpy(amap).astype(np.float64, copy=False)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"expected an H×W anomaly map, got shape {arr.shape}")
    return arr


def as_mask(mask) -> np.ndarray:
    """A ground-truth or predicted mask → ``H×W`` bool (float: ≥ 0.5; integer / bool: > 0)."""
    arr = as_numpy(mask)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        return arr >= 0.5
    return arr > 0


def split_batch(items, name: str = "items") -> list:
    """A batch (``B×…`` array / tensor) or a sequence → a list of per-sample items."""
    if items is None:
        return []
    if isinstance(items, (list, tuple)):
        return list(items)
    if _is_tensor(items) or isinstance(items, np.ndarray):
        return [items[i] for i in range(items.shape[0])]
    if isinstance(items, Iterable):
        return list(items)
    raise TypeError(f"{name}: expected a sequence or a batch array, got {type(items).__name__}")


def global_range(maps, q: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float]:
    """One ``(vmin, vmax)`` for a whole set of maps: the ``q`` quantiles of all their pixels.

    ``q=(0, 1)`` is global min-max; ``q=(0.0, 0.999)`` ignores a few hot pixels; quantiles of
    *validation* maps give an EfficientAD-style range that does not peek at the test set.
    ``maps`` is a batch (``B×H×W``, ``B×1×H×W``), a list of maps, or a dict of either (all pooled).
    """
    if isinstance(maps, Mapping):
        maps = [m for v in maps.values() for m in split_batch(v)]
    values = [as_numpy(m).astype(np.float64, copy=False).ravel() for m in split_batch(maps, "maps")]
    if not values:
        raise ValueError("global_range needs at least one map")
    flat = np.concatenate(values)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        raise ValueError("global_range: the maps hold no finite values")
    lo, hi = (float(v) for v in np.quantile(flat, q))
    return lo, hi


def resolve_range(amap: np.ndarray, norm: str, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    """The colour range a map is drawn with under ``norm`` (see :func:`overlay_heatmap`)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm == "per_image":
        if vmin is not None or vmax is not None:
            raise ValueError("norm='per_image' takes its range from the map itself; drop vmin/vmax "
                             "or use norm='global' / 'fixed'")
        lo, hi = float(np.nanmin(amap)), float(np.nanmax(amap))
    else:
        if vmin is None or vmax is None:
            hint = " (compute them with adlib.viz.global_range(all_maps))" if norm == "global" else ""
            raise ValueError(f"norm={norm!r} needs explicit vmin and vmax{hint}")
        lo, hi = float(vmin), float(vmax)
    if not hi > lo:  # constant map or degenerate range: keep the colour scale valid
        hi = lo + 1e-12
    return lo, hi


def norm_label(norm: str, lo: float, hi: float, cmap: str | None = None) -> str:
    """The text every heatmap figure carries, e.g. ``norm: global [0.12, 0.87] · cmap: inferno``."""
    name = {"per_image": "per-image min-max", "global": "global", "fixed": "fixed"}.get(norm, norm)
    text = f"norm: {name} [{_fmt(lo)}, {_fmt(hi)}]"
    return f"{text} · cmap: {cmap}" if cmap else text


def _fmt(v: float) -> str:
    return f"{v:.3g}" if (abs(v) >= 1e-3 or v == 0) and abs(v) < 1e4 else f"{v:.2e}"


class AdlibFigure(Figure):
    """A plain ``Figure`` that Jupyter shows as PNG even if pyplot (and so the inline backend) was
    never imported; with the inline backend active, its own formatter takes precedence."""

    repr_dpi = 100

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=self.repr_dpi, facecolor="white", bbox_inches="tight")
        return buf.getvalue()


def new_figure(width: float = 4.5, height: float = 4.0, layout: str | None = "constrained", **kwargs) -> Figure:
    """A figure pyplot does not track (nothing to close in batch mode, displays fine in Jupyter)."""
    return AdlibFigure(figsize=(width, height), layout=layout, **kwargs)


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for widgets and reports)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 120, **kwargs) -> Path:
    """Save ``fig`` as PNG (parents created) and close it if pyplot tracks it; returns the path."""
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("facecolor", "white")
    fig.savefig(path, dpi=dpi, **kwargs)
    close_figure(fig)
    return path


def close_figure(fig: Figure) -> None:
    """Close a figure that pyplot may be tracking (no-op for the untracked ones adlib makes)."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def image_extent(shape: Sequence[int]) -> tuple[float, float, float, float]:
    """``imshow`` extent of an ``H×W`` image in its own pixel coordinates (pixel centres at integers)."""
    h, w = shape[:2]
    return (-0.5, w - 0.5, h - 0.5, -0.5)


def style_image_axes(ax) -> None:
    """Hide ticks but keep the x label (where the normalisation is written)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
