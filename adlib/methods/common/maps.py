"""Map tools shared by the methods (RD4AD §3.4, DAF §III-D, DM-GRD §3.5, EfficientAD §3.4).

- :func:`gaussian_blur`: separable Gaussian filter identical to ``scipy.ndimage.gaussian_filter``
  (radius ``int(truncate·σ + 0.5)``, normalised taps, symmetric 'reflect' borders) — what every
  paper's code applies to its map with σ = 4.
- :func:`image_score`: the image score of a map — its maximum (RD4AD, MRKD, RD-Var, EfficientAD)
  or the mean of its ``k`` largest values (DAF: 50, DM-GRD: 100). :class:`ImageScore` is that rule
  as a value that results files record.
- :func:`cosine_distance_map`: 1 − cos along channels at every position (RD4AD Eq. 2).
- :func:`gaussian_window`: the normalised 1-D Gaussian taps of an SSIM window (11 taps, σ = 1.5).
- :func:`reflect_pad`: ``F.pad(mode="reflect")`` (d c b | a b c d, edge not repeated) for any size,
  also where the pad is not smaller than the map (DAF pads 4×4 maps by 5 at 64 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGE_SCORE_MODES = ("max", "topk_mean")


def _symmetric_index(n: int, radius: int, device) -> torch.Tensor:
    """Indices padding a length-n axis by ``radius`` with scipy's 'reflect' (d c b a | a b c d) rule."""
    idx = torch.arange(-radius, n + radius, device=device)
    period = 2 * n
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - 1 - idx, idx)


def reflect_index(n: int, pad: int, device=None) -> torch.Tensor:
    """Indices padding a length-n axis by ``pad`` with ``F.pad``'s 'reflect' rule (period 2n − 2, the
    edge not repeated), folded as often as needed; a length-1 axis is replicated."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two axes of ``x`` by ``pad`` on each side with 'reflect' borders: equal to
    ``F.pad(x, (pad,) * 4, mode="reflect")`` whenever that is defined (pad < size), and defined for
    every size (indices folded again; a size-1 axis is replicated)."""
    if pad <= 0:
        return x
    h, w = x.shape[-2:]
    x = x.index_select(-1, reflect_index(w, pad, x.device))
    return x.index_select(-2, reflect_index(h, pad, x.device))


def gaussian_window(size: int, sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian taps of odd length ``size`` (an SSIM window: 11 taps, σ = 1.5)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    if sigma <= 0:
        raise ValueError(f"window sigma must be positive, got {sigma}")
    t = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float | tuple[float, float] = 4.0, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian filter of B×C×H×W maps, identical to ``scipy.ndimage.gaussian_filter``
    (same kernel radius ``int(truncate·σ + 0.5)``, normalised, symmetric 'reflect' borders).
    ``sigma``: one value, or ``(σ_rows, σ_cols)`` per axis (σ ≤ 0: that axis is left as it is)."""
    sy, sx = (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else (float(sigma[0]), float(sigma[1]))
    if sy <= 0 and sx <= 0:
        return x
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, w)
    if sx > 0:
        radius = int(truncate * sx + 0.5)
        k = gaussian_window(2 * radius + 1, sx, dtype=x.dtype, device=x.device)
        y = F.conv2d(y.index_select(3, _symmetric_index(w, radius, x.device)), k.view(1, 1, 1, -1))
    if sy > 0:
        radius = int(truncate * sy + 0.5)
        k = gaussian_window(2 * radius + 1, sy, dtype=x.dtype, device=x.device)
        y = F.conv2d(y.index_select(2, _symmetric_index(h, radius, x.device)), k.view(1, 1, -1, 1))
    return y.reshape(b, c, h, w)


def cosine_distance_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − cos along channels at every position: B×1×H×W (RD4AD Eq. 2)."""
    return (1 - F.cosine_similarity(a, b, dim=1)).unsqueeze(1)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling with ``align_corners=True`` (what the RD-family code uses)."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=True)


def image_score(maps: torch.Tensor, mode: str = "max", k: int | None = None) -> torch.Tensor:
    """Image score of B×…×H×W maps (B,): ``max`` of the map, or ``topk_mean`` = mean of its ``k``
    largest values (k is a pixel count, fixed at every resolution; capped at the map's size)."""
    flat = maps.flatten(1)
    if mode == "max":
        return flat.amax(dim=1)
    if mode == "topk_mean":
        if k is None or int(k) < 1:
            raise ValueError(f"image score 'topk_mean' needs k >= 1, got {k}")
        return flat.topk(min(int(k), flat.shape[1]), dim=1).values.mean(dim=1)
    raise ValueError(f"image score mode must be one of {IMAGE_SCORE_MODES}, got {mode!r}")


@dataclass(frozen=True)
class ImageScore:
    """An image-score rule: ``ImageScore("max")`` or ``ImageScore("topk_mean", 50)``.

    ``ImageScore.parse`` reads ``"max"``, ``"topk_mean:50"`` or ``{"mode": ..., "k": ...}``;
    ``str(rule)`` is what results files record.
    """

    mode: str = "max"
    k: int | None = None

    def __post_init__(self):
        if self.mode not in IMAGE_SCORE_MODES:
            raise ValueError(f"image score mode must be one of {IMAGE_SCORE_MODES}, got {self.mode!r}")
        if self.mode == "topk_mean" and (self.k is None or int(self.k) < 1):
            raise ValueError(f"image score 'topk_mean' needs k >= 1, got {self.k}")
        if self.mode == "max" and self.k is not None:
            raise ValueError("image score 'max' takes no k")

    @classmethod
    def parse(cls, spec) -> ImageScore:
        if isinstance(spec, ImageScore):
            return spec
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - {"mode", "k"})
            if unknown:
                raise ValueError(f"image score: unknown keys {unknown} (expected 'mode' and 'k')")
            return cls(spec.get("mode", "max"), None if spec.get("k") is None else int(spec["k"]))
        if isinstance(spec, str):
            mode, _, k = spec.partition(":")
            try:
                return cls(mode.strip(), int(k) if k.strip() else None)
            except ValueError as e:
                raise ValueError(f"image score {spec!r}: {e} (write 'max' or 'topk_mean:K')") from None
        raise TypeError(f"image score must be 'max', 'topk_mean:K' or a dict, got {type(spec).__name__}")

    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        return image_score(maps, self.mode, self.k)

    def __str__(self) -> str:
        return self.mode if self.mode == "max" else f"{self.mode}:{self.k}"
