"""Reading images and masks from disk into plain uint8 / bool arrays.

Every reader converts what real datasets contain (grayscale, palette, RGBA, CMYK, LAB, 16-bit, float
TIFF) into 8-bit RGB, and raises an :class:`ImageReadError` (masks: :class:`MaskError`) naming the
file and what to do when it cannot: whatever PIL raises (truncated, not an image, a decompression
bomb, an unsupported mode) never escapes unnamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageReadError, MaskError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: str | os.PathLike) -> bool:
    """True for file names with a known image extension (case-insensitive), hidden files excluded."""
    name = os.path.basename(str(path))
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files directly inside ``folder`` (not recursive)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


FIX_HINT = "replace it with a readable PNG / JPEG / TIFF, or remove it from the dataset folder"


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        kind = "a broken link" if path.is_symlink() else "a folder" if path.is_dir() else "missing"
        raise ImageReadError(f"{what} not found: {path} ({kind}); restore the file or remove it from the dataset")
    try:
        img = Image.open(path)
        img.load()  # decode now, so truncated files fail here and not later
    except Exception as exc:  # noqa: BLE001 - PIL raises many types (UnidentifiedImageError, OSError, DecompressionBombError, ...)
        why = "not an image (unknown format)" if isinstance(exc, UnidentifiedImageError) else f"{type(exc).__name__}: {exc}"
        raise ImageReadError(f"cannot read {what} {path}: {why}; {FIX_HINT}") from exc
    return img


def _convert(path: Path, img: Image.Image, fn, what: str):
    """``fn(img)``, with a failure (an unsupported mode) named by the file."""
    try:
        return fn(img)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"cannot convert {what} {path} (mode {img.mode}) to 8-bit: {exc}; "
                             f"save it as 8-bit RGB or grayscale") from exc


def _to_uint8_gray(img: Image.Image) -> np.ndarray:
    """Single-channel high-bit-depth modes (I;16*, I, F) → uint8 by the type's full range."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr.astype(np.float64)
        scale = 255.0 if np.nanmax(arr, initial=0.0) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(arr) * scale, 0, 255).astype(np.uint8)
    arr = arr.astype(np.int64)
    hi = int(arr.max(initial=0))
    if hi <= 255:  # 32-bit container holding 8-bit values
        return arr.clip(0, 255).astype(np.uint8)
    return (arr.clip(0, 65535) >> 8).astype(np.uint8)  # 16-bit range → 8-bit


def pil_to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (alpha is dropped, 16-bit scaled by 1/257)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(_to_uint8_gray(img), mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def read_image(path: str | os.PathLike) -> Image.Image:
    """Decode an image file as 8-bit RGB PIL image."""
    path = Path(path)
    return _convert(path, _open(path, "image"), pil_to_rgb, "image")


def read_mask_values(path: str | os.PathLike) -> np.ndarray:
    """Decode a mask file as an H×W uint8 array of its raw (grey) values."""
    path = Path(path)
    try:
        return _convert(path, _open(path, "mask"), _mask_values, "mask")
    except ImageReadError as exc:
        raise MaskError(str(exc)) from exc


def _mask_values(img: Image.Image) -> np.ndarray:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_uint8_gray(img)
    if img.mode == "P":
        img = img.convert("RGB")
    if img.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr", "LAB", "HSV"):
        arr = np.asarray(img.convert("RGB") if img.mode != "LAB" else img.getchannel(0).convert("RGB"))
        return arr.max(axis=2).astype(np.uint8)  # any non-zero channel marks a defect
    return np.asarray(img.convert("L"), dtype=np.uint8)


def read_mask(path: str | os.PathLike, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a mask file as H×W bool (non-zero = defect).

    ``expected_size`` is the image's (H, W); a mask of another size raises :class:`MaskError`.
    """
    values = read_mask_values(path)
    if expected_size is not None and tuple(values.shape) != tuple(expected_size):
        raise MaskError(
            f"mask {path} is {values.shape[0]}×{values.shape[1]} (H×W) but its image is "
            f"{expected_size[0]}×{expected_size[1]}; masks must have the image's size"
        )
    return values > 0
