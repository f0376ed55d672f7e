"""MHKD's multi-task student F_s (§III.B, Eqs. 2, 3, 5; the authors' ``common.py class Student``).

One shared encoder, two decoders reading the same code:

- **SEncoder1** → f_l (384 × S/4): six convs and two *max* pools, its own layout (the asymmetry of
  §III.B). The code calls it ``encoder``; its output is what the code names "ae".
- **SEncoder2** → f_h (512 × S/16): two 4×4 stride-2 convs (the code's ``decoder``, sic);
  ``sencoder2="single"`` (Table IV without SEncoder2, an assumption) is one 4×4 stride-4 conv.
- **LDecoder** → f_s (384 × S/4), the structural branch: bicubic up to S/8, conv4 pad 2 (→ S/8 + 1),
  ReLU, Dropout 0.2, bicubic up to S/4, conv3, ReLU, conv1 → 384, ReLU, conv1.
- **GDecoder** → f_g (384 × S/4), the logical branch: a conv with an S/16 kernel (16×16 at 256 px, no
  ReLU) squeezes f_h into the global code f_q′ (64 × 1 × 1), then bicubic ups to 4, 8, S/8 (conv3 64→64,
  ReLU, Dropout each), up to S/4, conv3 64→128, 128→256, 256→384 (ReLU, Dropout on the first two), conv3.

Parameters at width 1: 3.99 / 7.34 / 6.90 / 11.08 M. ``width`` (CPU profiles only) scales the inner
128/256/512 channels; the 384-channel outputs and the 64-d code stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GDecoder", "LDecoder", "MultiTaskStudent", "SEncoder1", "SEncoder2", "StudentFeatures", "SENCODER2"]

SENCODER2 = ("two", "single")


def _c(c: int, width: float) -> int:
    return max(8, int(round(c * width)))


def _up(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)


class SEncoder1(nn.Sequential):
    """x (3 × S) → f_l (384 × S/4)."""

    def __init__(self, out_channels: int = 384, width: float = 1.0):
        a, b, c = _c(128, width), _c(256, width), _c(512, width)
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        super().__init__(nn.Conv2d(3, a, 4, padding=3), relu(), nn.MaxPool2d(2, 2, padding=1),
                         nn.Conv2d(a, a, 4, padding=3), relu(), nn.Conv2d(a, b, 3, padding=1), relu(),
                         nn.MaxPool2d(2, 2, padding=1), nn.Conv2d(b, c, 1), relu(),
                         nn.Conv2d(c, out_channels, 4), relu(), nn.Conv2d(out_channels, out_channels, 1))


class SEncoder2(nn.Sequential):
    """f_l (384 × S/4) → f_h (512 × S/16): two stride-2 4×4 convs, or one stride-4 conv (``"single"``)."""

    def __init__(self, in_channels: int = 384, width: float = 1.0, layout: str = "two"):
        if layout not in SENCODER2:
            raise ValueError(f"sencoder2 must be one of {SENCODER2}, got {layout!r}")
        c = _c(512, width)
        if layout == "two":
            super().__init__(nn.Conv2d(in_channels, c, 4, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 4, 2, 1),
                             nn.ReLU(inplace=True))
        else:
            super().__init__(nn.Conv2d(in_channels, c, 4, 4), nn.ReLU(inplace=True))


class LDecoder(nn.Module):
    """f_h → f_s (384 × h), h = 4·f_h's size."""

    def __init__(self, out_channels: int = 384, width: float = 1.0, dropout: float = 0.2):
        super().__init__()
        c = _c(512, width)
        self.conv1 = nn.Sequential(nn.Conv2d(c, c, 4, padding=2), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.conv2 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, out_channels, 1),
                                   nn.ReLU(inplace=True), nn.Conv2d(out_channels, out_channels, 1))

    def forward(self, f_h: torch.Tensor) -> torch.Tensor:
        h = 4 * f_h.shape[-1]
        return self.conv2(_up(self.conv1(_up(f_h, h // 2)), h))


class GDecoder(nn.Module):
    """f_h → (f_g (384 × h), f_q′ (64 × 1 × 1)); the bottleneck kernel is ``image_size``/16."""

    def __init__(self, image_size: int = 256, out_channels: int = 384, width: float = 1.0, dropout: float = 0.2,
                 code: int = 64):
        super().__init__()
        c512, c128, c256 = _c(512, width), _c(128, width), _c(256, width)
        self.bottleneck = nn.Conv2d(c512, code, image_size // 16)
        block = lambda a, b: nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ReLU(inplace=True),  # noqa: E731
                                           nn.Dropout(dropout))
        self.ups = nn.ModuleList(block(code, code) for _ in range(3))
        self.head = nn.Sequential(block(code, c128), block(c128, c256), nn.Conv2d(c256, out_channels, 3, padding=1),
                                  nn.ReLU(inplace=True), nn.Conv2d(out_channels, out_channels, 3, padding=1))

    def forward(self, f_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = 4 * f_h.shape[-1]
        code = self.bottleneck(f_h)
        z = code
        for size, block in zip((min(4, h // 2), min(8, h // 2), h // 2), self.ups):  # 4, 8, 32 at 256 px
            z = block(_up(z, size))
        return self.head(_up(z, h)), code


@dataclass
class StudentFeatures:
    """One forward pass: f_l (SEncoder1), f_h (SEncoder2), f_q (the 64-d global code), f_s, f_g."""

    f_l: torch.Tensor
    f_h: torch.Tensor
    f_q: torch.Tensor
    f_s: torch.Tensor
    f_g: torch.Tensor


class MultiTaskStudent(nn.Module):
    """SEncoder1 → SEncoder2 → {LDecoder, GDecoder} (Eqs. 2, 3, 5); ``image_size`` a multiple of 16."""

    def __init__(self, image_size: int = 256, out_channels: int = 384, width: float = 1.0, dropout: float = 0.2,
                 sencoder2: str = "two"):
        super().__init__()
        if image_size % 16 or image_size < 32:
            raise ValueError(f"MHKD's student needs an image size that is a multiple of 16 (at least 32), got "
                             f"{image_size}")
        self.image_size = image_size
        self.sencoder1 = SEncoder1(out_channels, width)
        self.sencoder2 = SEncoder2(out_channels, width, sencoder2)
        self.ldecoder = LDecoder(out_channels, width, dropout)
        self.gdecoder = GDecoder(image_size, out_channels, width, dropout)

    def forward(self, x: torch.Tensor) -> StudentFeatures:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"MHKD's student was built for {self.image_size}² images, got {tuple(x.shape[-2:])}")
        f_l = self.sencoder1(x)
        f_h = self.sencoder2(f_l)
        f_g, f_q = self.gdecoder(f_h)
        return StudentFeatures(f_l, f_h, f_q, self.ldecoder(f_h), f_g)
