"""The one interface every synthesis strategy follows, and what the strategies share.

A strategy is a picklable callable ``strategy(dest, src, rng) -> Synthesis(image, label)``:

- ``dest``: the normal training image, H×W×C uint8 (C = 3, or 1; grey tiles replicated to 3
  channels work like colour images);
- ``src``: a second training image of the same shape for strategies with ``needs_source``
  (NSA from another image), else ``None``;
- ``rng``: a ``numpy.random.Generator`` (or a seed); every random draw comes from it, so the same
  seed gives the same output (:class:`~adlib.synthesis.SyntheticAnomalies` seeds it per
  (seed, index, draw)).

It returns the synthetic image (uint8 of ``dest``'s shape, except Fourier + Perlin whose default
``output="float"`` keeps the authors' unclipped floats in 0–255 units) and the label H×W uint8
in {0, 1}. ``max_redraws``: a draw whose label is empty is drawn again from the same rng, up to that
many times (DAF: every training draw is anomalous); after that the last draw is returned as is.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np


class Synthesis(NamedTuple):
    """One synthetic draw: the image and its H×W uint8 label (unpacks as ``image, label``)."""

    image: np.ndarray
    label: np.ndarray


def as_hwc(image, name: str = "image") -> np.ndarray:
    """``image`` as H×W×C uint8 (C in {1, 3}; an H×W array gets a channel axis)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"synthesis works on uint8 images, {name} is {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"{name} must be H×W, H×W×1 or H×W×3, got shape {image.shape}")
    return image


def match_channels(fill: np.ndarray, channels: int) -> np.ndarray:
    """An H×W×3 fill (texture, colour) for an image with ``channels`` channels: kept for 3, its
    ITU-R 601 luma for 1."""
    if channels == 3:
        return fill
    luma = fill.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    return np.rint(luma)[..., None].astype(fill.dtype)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in 0–255 units → uint8 (rounded, clipped): at most 0.5 grey levels from the float."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def blend(image: np.ndarray, fill: np.ndarray, mask: np.ndarray, beta: float) -> np.ndarray:
    """DRAEM's opacity blend (DAF §IV.A.2; DRAEM Eq. 1): ``I·(1−M) + (1−β)·T·M + β·I·M``, written as
    ``I + M·(1−β)·(T − I)`` so pixels outside the mask keep their exact values. uint8 in and out."""
    m = mask.astype(np.float32)[..., None] * (1.0 - float(beta))
    img = image.astype(np.float32)
    return to_uint8(img + m * (fill.astype(np.float32) - img))


class Strategy:
    """Base of the synthesis strategies (see the module docstring).

    Subclasses set ``name``, implement ``_draw(dest, src, rng) -> (image, label)`` and list their
    options in ``options()``; ``needs_source`` says whether they want a second training image and
    ``texture`` is their :class:`~adlib.synthesis.textures.TextureSource` (or None).
    """

    name = "strategy"
    needs_source = False
    texture = None
    label_note: str | None = None  # where the label is not exactly what changed (recorded by describe)

    def __init__(self, image_size=None, max_redraws: int = 0):
        if image_size is not None:
            image_size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(map(int, image_size))
        if int(max_redraws) < 0:
            raise ValueError(f"max_redraws must be >= 0, got {max_redraws}")
        self.image_size, self.max_redraws = image_size, int(max_redraws)

    def _draw(self, dest: np.ndarray, src: np.ndarray | None, rng: np.random.Generator):
        raise NotImplementedError

    def options(self) -> dict:
        """The settings that define this strategy's draws (recorded by :meth:`describe`)."""
        return {"max_redraws": self.max_redraws}

    @property
    def texture_name(self) -> str | None:
        """The texture source's name as results record it (None: no texture used)."""
        return None if self.texture is None else self.texture.name

    def describe(self) -> dict:
        """A small JSON-able record for results files: name, options, texture source, image size
        (and ``label_note`` where the label is not exactly the changed pixels)."""
        record = {"name": self.name, "options": self.options(), "texture_source": self.texture_name,
                  "image_size": None if self.image_size is None else list(self.image_size)}
        return {**record, "label_note": self.label_note} if self.label_note else record

    def __call__(self, dest, src=None, rng=None) -> Synthesis:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        dest = as_hwc(dest, "dest")
        if self.image_size is not None and dest.shape[:2] != self.image_size:
            raise ValueError(f"{self.name}: built for images of {self.image_size}, got {dest.shape[:2]}")
        if src is not None:
            src = as_hwc(src, "src")
            if src.shape != dest.shape:
                raise ValueError(f"source {src.shape} and destination {dest.shape} images must have the same shape")
        for _ in range(self.max_redraws + 1):
            image, label = self._draw(dest, src, rng)
            if label.any():
                break
        return Synthesis(image, np.asarray(label, np.uint8))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        src = f", texture_source={self.texture_name!r}" if self.texture_name is not None else ""
        return f"{type(self).__name__}({opts}{src})"


def check_choice(value, choices, what: str):
    """``value`` if it is one of ``choices``, else a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def keyword_options(cls) -> tuple[str, ...]:
    """The keyword options a strategy class accepts (its ``__init__`` parameters)."""
    params = inspect.signature(cls.__init__).parameters
    return tuple(p for p in params if p != "self")
