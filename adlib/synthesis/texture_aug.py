"""DRAEM's texture augmenters (DRAEM ``data_loader.py`` ``randAugmenter``; DAF ``data/data_loader.py``)
in numpy/PIL, with imgaug semantics (imgaug is unmaintained and not a dependency).

:func:`augment_texture` applies 3 **distinct** ops out of the 10 below, in the drawn order
(``np.random.choice(10, 3, replace=False)``). Each op is ``op(image H×W×3 uint8, rng) -> uint8``:

 1. ``gamma``: GammaContrast, γ ~ U(0.5, 2) per channel: 255·(v/255)^γ.
 2. ``brightness``: MultiplyAndAddToBrightness, mul U(0.8, 1.2) and add U(−30, 30) in random
    order on the luma (Y of YCbCr). *Approximate*: imgaug picks a colour space at random.
 3. ``sharpness``: pillike.EnhanceSharpness, factor U(0, 2) (PIL ``ImageEnhance.Sharpness``).
 4. ``hue_saturation``: AddToHueAndSaturation U{−50..50} drawn separately for hue and saturation
    (hue shift v·180/255 OpenCV units = v/255 of a turn). *Approximate*: PIL's HSV, not OpenCV's.
 5. ``solarize``: Solarize, p = 0.5, threshold U(32, 128): v ≥ thr becomes 255 − v.
 6. ``posterize``: Posterize, bits U{1..8} (= ``PIL.ImageOps.posterize``).
 7. ``invert``: 255 − v.
 8. ``autocontrast``: pillike.Autocontrast, cutoff U{0..20} %.
 9. ``equalize``: pillike.Equalize (``PIL.ImageOps.equalize``).
10. ``rotate``: Affine rotate U(−45°, 45°), bilinear, black outside.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageOps


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(img))


def gamma(img, rng):
    g = rng.uniform(0.5, 2.0, size=3).astype(np.float32)
    return np.clip(np.rint(255.0 * (img.astype(np.float32) / 255.0) ** g), 0, 255).astype(np.uint8)


def brightness(img, rng):
    mul, add = rng.uniform(0.8, 1.2), rng.uniform(-30, 30)
    ycc = np.asarray(_pil(img).convert("YCbCr")).astype(np.float32)
    y = ycc[..., 0] * mul + add if rng.random() < 0.5 else (ycc[..., 0] + add) * mul
    ycc[..., 0] = np.clip(np.rint(y), 0, 255)
    return np.asarray(Image.fromarray(ycc.astype(np.uint8), "YCbCr").convert("RGB"))


def sharpness(img, rng):
    return np.asarray(ImageEnhance.Sharpness(_pil(img)).enhance(rng.uniform(0.0, 2.0)))


def hue_saturation(img, rng):
    dh, ds = rng.integers(-50, 51, size=2)
    hsv = np.asarray(_pil(img).convert("HSV")).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + dh) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] + ds, 0, 255)
    return np.asarray(Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB"))


def solarize(img, rng):
    apply, thr = rng.random() < 0.5, rng.uniform(32, 128)
    return np.where(img >= thr, 255 - img, img).astype(np.uint8) if apply else img


def posterize(img, rng):
    return np.asarray(ImageOps.posterize(_pil(img), int(rng.integers(1, 9))))


def invert(img, rng):
    return (255 - img).astype(np.uint8)


def autocontrast(img, rng):
    return np.asarray(ImageOps.autocontrast(_pil(img), cutoff=int(rng.integers(0, 21))))


def equalize(img, rng):
    return np.asarray(ImageOps.equalize(_pil(img)))


def rotate(img, rng):
    return np.asarray(_pil(img).rotate(rng.uniform(-45.0, 45.0), resample=Image.BILINEAR, fillcolor=(0, 0, 0)))


AUGMENTERS = (gamma, brightness, sharpness, hue_saturation, solarize, posterize, invert, autocontrast, equalize,
              rotate)


def augment_texture(img: np.ndarray, rng: np.random.Generator, n: int = 3) -> np.ndarray:
    """``n`` distinct augmenters of :data:`AUGMENTERS`, drawn in order from ``rng``, applied to an
    H×W×3 uint8 texture (shape and dtype kept)."""
    for k in rng.choice(len(AUGMENTERS), n, replace=False):
        img = AUGMENTERS[int(k)](img, rng)
    return np.ascontiguousarray(img, np.uint8)
