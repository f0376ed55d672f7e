"""Where anomaly textures come from: DTD, a folder of images, or a procedural stand-in. Always named.

``texture_source(spec)`` resolves one of

- ``"dtd"``: the Describable Textures Dataset, ``<data root>/dtd/images/<class>/*.jpg`` (5 640
  images; what DRAEM, DAF and DM-GRD use). When it is absent this is an **error** that says how to
  get it (``adlib data fetch dtd``) or to choose ``"procedural"``; it never falls back silently.
- a folder (``"folder:<path>"`` or an existing directory path): every image below it;
- ``"procedural"``: a deterministic offline stand-in drawn from the rng (DAF spec §2.5), one of
  four families at random: fractal value noise (2–5 octaves) through a random 2–3-colour ramp;
  oriented noisy sinusoidal stripes (4–32 cycles per image); a jittered checker or grid (8–48 px
  cells at 256 px); random disks (20–200, radius 2–20 px at 256 px) on a random background. It does
  not reuse the synthetic datasets' renderers (their normal images or defects would leak).

``source.name`` (``"dtd"``, ``"folder:<portable path>"``, ``"procedural"``) is what results record.
``source.sample(rng, (H, W))`` returns an H×W×3 uint8 texture: an image chosen by the rng and
resized without keeping the aspect ratio (PIL bilinear; the authors use cv2 INTER_LINEAR), or a
procedural one. Image lists are read lazily; decoded images sit in a small per-process LRU cache.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
DTD_HINT = ("get them with `adlib data fetch dtd` (or `python data_scripts/download_dtd.py`; about 0.6 GB), "
            "or choose texture_source='procedural' (an offline stand-in, recorded as such)")


class MissingTexturesError(FileNotFoundError):
    """The texture images a strategy was asked to use are not there."""


class TextureSource:
    """A named source of H×W×3 uint8 textures (see the module docstring)."""

    name = "texture"

    def sample(self, rng: np.random.Generator, size) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ImageTextures(TextureSource):
    """Images below ``folder`` matching ``pattern`` (sorted, so an rng index is reproducible)."""

    def __init__(self, folder, name: str, pattern: str = "**/*", cache_size: int = 64):
        self.folder, self.name, self.pattern, self.cache_size = Path(folder), name, pattern, int(cache_size)
        self._paths: list[Path] | None = None
        self._cache: OrderedDict = OrderedDict()

    @property
    def paths(self) -> list[Path]:
        if self._paths is None:
            found = sorted(p for p in self.folder.glob(self.pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise MissingTexturesError(f"no texture images ({self.pattern}) in {self.folder}")
            self._paths = found
        return self._paths

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int, size) -> np.ndarray:
        h, w = int(size[0]), int(size[1])
        key = (index, h, w)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with Image.open(self.paths[index]) as im:
            arr = np.asarray(im.convert("RGB").resize((w, h), Image.BILINEAR))
        self._cache[key] = arr
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return arr

    def sample(self, rng, size) -> np.ndarray:
        return self.load(int(rng.integers(len(self.paths))), size).copy()

    def __getstate__(self):  # DataLoader workers get the path list, not the cache
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state


def _value_noise(rng, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth H×W noise in [0, 1): a (cells+1)² random lattice, bilinearly upsampled."""
    grid = Image.fromarray(rng.random((cells + 1, cells + 1)).astype(np.float32), mode="F")
    return np.asarray(grid.resize((w, h), Image.BILINEAR))


def _colours(rng, n: int) -> np.ndarray:
    return rng.uniform(0, 255, (n, 3))


def fractal_ramp(rng, h, w, scale):
    octaves, cells = int(rng.integers(2, 6)), int(rng.integers(2, 7))
    v = sum(0.5**o * _value_noise(rng, h, w, cells * 2**o) for o in range(octaves))
    v = (v - v.min()) / max(float(np.ptp(v)), 1e-6)
    cols = _colours(rng, int(rng.integers(2, 4)))
    stops = np.linspace(0, 1, len(cols))
    return np.stack([np.interp(v, stops, cols[:, c]) for c in range(3)], axis=-1)


def stripes(rng, h, w, scale):
    cycles, theta = rng.uniform(4, 32), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    warp = rng.uniform(0.1, 0.6) * _value_noise(rng, h, w, int(rng.integers(2, 8)))
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (cycles * (xx * np.cos(theta) + yy * np.sin(theta)) + warp)
                              + rng.uniform(0, 2 * np.pi))
    a, b = _colours(rng, 2)
    return a + wave[..., None] ** rng.uniform(0.5, 2.0) * (b - a)


def checker_grid(rng, h, w, scale):
    cell = max(2, int(round(rng.uniform(8, 48) * scale)))
    yy, xx = np.mgrid[0:h, 0:w]
    jit = rng.integers(0, cell, 2)
    cy, cx = (yy + jit[0]) // cell, (xx + jit[1]) // cell
    if rng.random() < 0.5:  # checker with a colour jitter per cell
        pattern = ((cy + cx) % 2).astype(np.float64)
        tone = rng.normal(0, 12, (cy.max() + 1, cx.max() + 1, 3))[cy, cx]
    else:  # grid lines
        width = max(1, int(round(rng.uniform(1, 4) * scale)))
        pattern = (((yy + jit[0]) % cell < width) | ((xx + jit[1]) % cell < width)).astype(np.float64)
        tone = rng.normal(0, 6, (h, w, 3))
    a, b = _colours(rng, 2)
    return a + pattern[..., None] * (b - a) + tone


def disks(rng, h, w, scale):
    out = np.empty((h, w, 3))
    out[:] = _colours(rng, 1)[0]
    yy, xx = np.ogrid[0:h, 0:w]
    for _ in range(int(rng.integers(20, 201))):
        r = rng.uniform(2, 20) * scale
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1, x0, x1 = max(int(cy - r), 0), min(int(cy + r) + 1, h), max(int(cx - r), 0), min(int(cx + r) + 1, w)
        inside = (yy[y0:y1] - cy) ** 2 + (xx[:, x0:x1] - cx) ** 2 <= r * r
        out[y0:y1, x0:x1][inside] = _colours(rng, 1)[0]
    return out


FAMILIES = (fractal_ramp, stripes, checker_grid, disks)


class ProceduralTextures(TextureSource):
    """The offline stand-in for DTD: one of :data:`FAMILIES` at random, sizes scaled by side/256."""

    name = "procedural"

    def sample(self, rng, size) -> np.ndarray:
        h, w = int(size[0]), int(size[1])
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        return np.clip(np.rint(family(rng, h, w, min(h, w) / 256.0)), 0, 255).astype(np.uint8)


def dtd_textures(root=None) -> ImageTextures:
    """DTD under ``root`` (default: the data root, ``$ADLIB_DATA``); a clear error when it is absent."""
    from adlib.paths import data_root

    folder = Path(root if root is not None else data_root()).expanduser() / "dtd" / "images"
    if not (folder.is_dir() and next(folder.glob("*/*.jpg"), None) is not None):
        raise MissingTexturesError(f"texture_source='dtd': DTD textures missing (no {folder}/<class>/*.jpg); "
                                   + DTD_HINT)
    return ImageTextures(folder, "dtd", pattern="*/*.jpg")


def folder_textures(folder) -> ImageTextures:
    """Every image below ``folder`` (its name records the folder as ``adlib.paths.portable_path`` writes it)."""
    from adlib.paths import portable_path

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise MissingTexturesError(f"texture folder {folder} does not exist")
    source = ImageTextures(folder, f"folder:{portable_path(folder)}")
    source.paths  # noqa: B018  (an empty folder is an error now, not at the first draw)
    return source


def texture_source(spec, root=None) -> TextureSource:
    """``"dtd"`` | ``"procedural"`` | ``"folder:<path>"`` | a directory path | a :class:`TextureSource`.

    ``root``: the data root holding ``dtd/images`` (default ``$ADLIB_DATA``)."""
    if isinstance(spec, TextureSource):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"texture_source must be a name, a folder or a TextureSource, got {type(spec).__name__}")
    text = str(spec)
    if text == "dtd":
        return dtd_textures(root)
    if text == "procedural":
        return ProceduralTextures()
    if text.startswith("folder:"):
        return folder_textures(text[len("folder:"):])
    if Path(text).expanduser().is_dir():
        return folder_textures(text)
    raise ValueError(f"unknown texture_source {text!r}: use 'dtd', 'procedural', 'folder:<path>' or an existing "
                     "folder of images")
