"""An offline image pool for distilling a PDN (MHKD spec §3.3): photos that ship in installed packages
plus a seeded dead-leaves generator, and the random views the distillation draws from them.

- **Photos**: scikit-image's ``skimage/data`` files of at least 300 px and scikit-learn's two sample
  images (china, flower): about 24 images. Each is recorded with its package version and sha256.
- **Dead leaves**: random discs and rectangles with power-law sizes and random colours, drawn
  back to front (a classic model of natural-image statistics): a seeded set of images, cropped like the photos.
- **Views** (:func:`random_view`): RandomResizedCrop (scale 0.02–1, ratio 3/4–4/3), flips, rot90, one
  colour jitter of 0.2, grayscale with probability 0.1; the extractor gets the crop at 2S, the PDN
  its S-px downscale. 70 % photos, 30 % dead leaves.

Nothing is downloaded: a missing package is an error naming it. The evaluated category is never in
the pool (that would be a domain-adapted teacher, which neither paper uses).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DEAD_LEAVES_VERSION", "SKIMAGE_FILES", "PoolImage", "color_jitter", "dead_leaves", "dead_leaves_pool",
           "grayscale", "load_photo_pool", "pool_record", "random_view"]

SKIMAGE_FILES = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                 "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
                 "logo.png", "moon.png", "motorcycle_left.png", "motorcycle_right.png", "page.png", "phantom.png",
                 "retina.jpg", "rocket.jpg", "text.png")
SKLEARN_FILES = ("china.jpg", "flower.jpg")
DEAD_LEAVES_VERSION = 1
PHOTO_FRACTION = 0.7


@dataclass
class PoolImage:
    """One photo of the pool: RGB uint8 H×W×3, where it came from and its file's sha256."""

    name: str
    image: np.ndarray
    package: str
    sha256: str


def _package_dir(module: str, sub: str) -> tuple[Path, str]:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        dist = {"skimage": "scikit-image", "sklearn": "scikit-learn"}[module]
        raise ImportError(f"the offline image pool needs {dist}: pip install {dist} "
                          "(or pip install -e '.[teachers]')") from exc
    dist = {"skimage": "scikit-image", "sklearn": "scikit-learn"}[module]
    return Path(mod.__file__).parent / sub, f"{dist}=={importlib.metadata.version(dist)}"


def load_photo_pool(min_side: int = 300) -> list[PoolImage]:
    """The packaged photos (RGB; gray replicated, alpha dropped) whose shorter side is ≥ ``min_side``."""
    from PIL import Image

    out = []
    for module, sub, names in (("skimage", "data", SKIMAGE_FILES), ("sklearn", "datasets/images", SKLEARN_FILES)):
        folder, package = _package_dir(module, sub)
        for name in names:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"{package} has no {name} at {path}: the pool needs its packaged images")
            img = np.asarray(Image.open(path).convert("RGB"))
            if min(img.shape[:2]) >= min_side:
                out.append(PoolImage(name, img, package, hashlib.sha256(path.read_bytes()).hexdigest()))
    return out


def pool_record(pool: list[PoolImage]) -> list[dict]:
    """What a recipe records of the photos: name, package version, sha256."""
    return [{"name": p.name, "package": p.package, "sha256": p.sha256} for p in pool]


def dead_leaves(size: int, rng: np.random.Generator, n_shapes: int = 600, r_min: float = 0.01,
                r_max: float = 0.3, alpha: float = 3.0) -> np.ndarray:
    """A size×size×3 uint8 dead-leaves image: discs and rectangles with radii drawn from a power law
    p(r) ∝ r^-alpha on [r_min, r_max]·size, uniform random colours, later shapes on top."""
    img = np.empty((size, size, 3), np.float32)
    img[:] = rng.uniform(0, 1, 3)
    a1 = 1.0 - alpha
    lo, hi = (r_min * size) ** a1, (r_max * size) ** a1
    for _ in range(n_shapes):
        r = (lo + rng.uniform() * (hi - lo)) ** (1.0 / a1)
        cy, cx = rng.uniform(0, size, 2)
        colour = rng.uniform(0, 1, 3)
        disc = rng.uniform() < 0.5
        ry = r if disc else r * rng.uniform(0.3, 1.0)
        y0, y1 = max(0, int(cy - ry)), min(size, int(cy + ry) + 1)
        x0, x1 = max(0, int(cx - r)), min(size, int(cx + r) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
        inside = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) if disc else ((np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= r))
        img[y0:y1, x0:x1][inside] = colour
    return (img * 255 + 0.5).astype(np.uint8)


def dead_leaves_pool(n: int, size: int, seed: int) -> list[PoolImage]:
    """``n`` dead-leaves images of ``size`` px from ``seed`` (views crop them like the photos)."""
    rng = np.random.default_rng(seed)
    tag = f"adlib dead_leaves v{DEAD_LEAVES_VERSION} seed {seed}"
    return [PoolImage(f"dead_leaves_{i}", dead_leaves(size, rng), tag, "") for i in range(n)]


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """RGB (…×3×H×W) → its luma (ITU-R 601, as torchvision's RandomGrayscale) in all three channels."""
    y = 0.299 * x[..., 0, :, :] + 0.587 * x[..., 1, :, :] + 0.114 * x[..., 2, :, :]
    return y.unsqueeze(-3).expand_as(x).clone()


def color_jitter(x: torch.Tensor, kind: str, factor: float) -> torch.Tensor:
    """One torchvision ColorJitter operation on RGB images in [0, 1] (…×3×H×W): ``brightness``,
    ``contrast`` or ``saturation`` by ``factor`` (ColorJitter(0.2) draws it from [0.8, 1.2])."""
    import torchvision.transforms.v2.functional as TF

    fn = {"brightness": TF.adjust_brightness, "contrast": TF.adjust_contrast,
          "saturation": TF.adjust_saturation}[kind]
    return fn(x, float(factor))


def _crop_box(h: int, w: int, rng: np.random.Generator, scale=(0.02, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision RandomResizedCrop's box (10 tries, then the central crop)."""
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * r))), int(round(math.sqrt(target / r)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


def random_view(photos: list[PoolImage], leaves: list[PoolImage], size: int,
                rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One training view: ``(extractor image 3×2S×2S, PDN image 3×S×S, source name)``, RGB in [0, 1]:
    a crop of a photo (probability 0.7) or of a dead-leaves image."""
    pool = photos if photos and (not leaves or rng.uniform() < PHOTO_FRACTION) else leaves
    item = pool[int(rng.integers(len(pool)))]
    img, name = item.image, item.name
    y, x, ch, cw = _crop_box(img.shape[0], img.shape[1], rng)
    t = torch.from_numpy(np.array(img[y:y + ch, x:x + cw])).permute(2, 0, 1).float()[None] / 255
    big = F.interpolate(t, size=(2 * size, 2 * size), mode="bilinear", align_corners=False, antialias=True)[0]
    if rng.uniform() < 0.5:
        big = big.flip(-1)
    if rng.uniform() < 0.5:
        big = big.flip(-2)
    big = torch.rot90(big, int(rng.integers(4)), dims=(-2, -1))
    kind = ("brightness", "contrast", "saturation")[int(rng.integers(3))]
    big = color_jitter(big, kind, rng.uniform(0.8, 1.2)).clamp(0, 1)
    if rng.uniform() < 0.1:
        big = grayscale(big)
    small = F.interpolate(big[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return big.contiguous(), small, name
