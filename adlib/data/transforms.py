"""Resizing and normalisation shared by every dataset."""

from __future__ import annotations

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


def to_float_image(img_u8: torch.Tensor, normalize: str | None = "imagenet") -> torch.Tensor:
    """3×H×W uint8 → float in [0, 1], ImageNet-normalised when ``normalize == "imagenet"``."""
    x = img_u8.float().div_(255.0)
    if normalize is None:
        return x
    if normalize != "imagenet":
        raise ValueError(f"normalize must be 'imagenet' or None, got {normalize!r}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype).view(3, 1, 1)
    return (x - mean) / std


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Undo ImageNet normalisation (…×3×H×W) back to [0, 1] for display."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1)
