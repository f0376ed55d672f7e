"""Resizing and normalisation shared by every dataset."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MASK_INTERPOLATIONS = ("nearest", "bilinear")


def as_hw(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``256`` → ``(256, 256)``; ``(h, w)`` unchanged; ``None`` = keep the original size."""
    if size is None:
        return None
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"image size must be positive, got {size}")
        return (size, size)
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    return (h, w)


def resize_image(img: Image.Image, size: tuple[int, int] | None) -> np.ndarray:
    """PIL bilinear resize (as torchvision's ``Resize`` on PIL images) → H×W×3 uint8."""
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def resize_mask(mask: np.ndarray, size: tuple[int, int] | None, interpolation: str = "nearest") -> np.ndarray:
    """Resize an H×W uint8 mask of raw values.

    ``nearest`` keeps values exact (MRKD, DAF, adlib default). ``bilinear`` resizes the binary mask
    bilinearly and thresholds at 0.5 (RD4AD); raw values are kept where the result is positive.
    """
    if interpolation not in MASK_INTERPOLATIONS:
        raise ValueError(f"mask interpolation must be one of {MASK_INTERPOLATIONS}, got {interpolation!r}")
    if size is None or mask.shape == tuple(size):
        return mask
    pil_size = (size[1], size[0])
    if interpolation == "nearest":
        return np.asarray(Image.fromarray(mask).resize(pil_size, Image.NEAREST))
    binary = Image.fromarray((mask > 0).astype(np.float32), mode="F").resize(pil_size, Image.BILINEAR)
    keep = np.asarray(binary) > 0.5
    value = np.asarray(Image.fromarray(mask).resize(pil_size, Image.NEAREST))
    value = np.where(value > 0, value, mask.max(initial=0))  # fill edge pixels with the mask's value
    return np.where(keep, value, 0).astype(np.uint8)


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its input images: channel order and per-channel normalisation of [0, 1] values.

    ``mean``/``std`` are given in RGB order; ``apply`` normalises an RGB image in [0, 1] and then
    reorders the channels (``"BGR"``: the DAF code's OpenCV input). The one implementation of
    normalisation: datasets (:func:`to_float_image`), the on-device cache, the backbones' own input
    conversion (:meth:`converter`) and display (:func:`denormalize`) all go through it.
    """

    name: str
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: str = "RGB"

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(float(v) <= 0 for v in self.std):
            raise ValueError(f"input spec {self.name!r}: mean and std need 3 values, std > 0")

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1,) * (x.ndim - 3) + (3, 1, 1)
        return (torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape),
                torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape))

    def _order(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-3) if self.channel_order == "BGR" else x

    @property
    def is_identity(self) -> bool:
        return self.channel_order == "RGB" and self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0)

    def apply(self, x01: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1] (…×3×H×W) → this spec."""
        if self.is_identity:
            return x01
        mean, std = self._stats(x01)
        return self._order((x01 - mean) / std)

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Images in this spec → RGB in [0, 1] (not clamped)."""
        mean, std = self._stats(x)
        return self._order(x) * std + mean

    def converter(self, target: InputSpec) -> tuple[torch.Tensor, torch.Tensor, bool, bool] | None:
        """``(scale, shift, flip_in, flip_out)`` with ``target = flip_out(flip_in(x)·scale + shift)``
        for 1×3×1×1 float32 ``scale``/``shift`` (RGB order), or ``None`` when both specs are equal."""
        same = lambda a, b: all(math.isclose(float(u), float(v), rel_tol=1e-6, abs_tol=1e-9) for u, v in zip(a, b))  # noqa: E731
        if self.channel_order == target.channel_order and same(self.mean, target.mean) and same(self.std, target.std):
            return None
        src_std, dst_std = torch.tensor(self.std), torch.tensor(target.std)
        scale = (src_std / dst_std).view(1, 3, 1, 1)
        shift = ((torch.tensor(self.mean) - torch.tensor(target.mean)) / dst_std).view(1, 3, 1, 1)
        return scale, shift, self.channel_order == "BGR", target.channel_order == "BGR"


IMAGENET = InputSpec("imagenet", IMAGENET_MEAN, IMAGENET_STD)
UNIT_RGB = InputSpec("unit")  # RGB in [0, 1]
UNIT_BGR = InputSpec("unit_bgr", channel_order="BGR")  # BGR in [0, 1] (OpenCV-reading code, e.g. DAF)
INPUT_SPECS = {s.name: s for s in (IMAGENET, UNIT_RGB, UNIT_BGR)}


def as_input_spec(spec: str | InputSpec | None) -> InputSpec:
    """``"imagenet"``, ``"unit"``, ``"unit_bgr"``, ``None`` (= ``"unit"``) or an :class:`InputSpec`."""
    if isinstance(spec, InputSpec):
        return spec
    if spec is None:
        return UNIT_RGB
    if spec not in INPUT_SPECS:
        raise ValueError(f"normalize must be one of {sorted(INPUT_SPECS)}, None or an InputSpec, got {spec!r}")
    return INPUT_SPECS[spec]


def to_float_image(img_u8: torch.Tensor, normalize: str | InputSpec | None = "imagenet") -> torch.Tensor:
    """3×H×W uint8 RGB → float in [0, 1], then normalised by ``normalize`` (see :func:`as_input_spec`)."""
    spec = as_input_spec(normalize)
    return spec.apply(img_u8.float().div_(255.0))


def denormalize(x: torch.Tensor, spec: str | InputSpec | None = "imagenet") -> torch.Tensor:
    """Undo a normalisation (…×3×H×W, ImageNet by default) back to RGB in [0, 1] for display."""
    return as_input_spec(spec).invert(x).clamp(0, 1)
