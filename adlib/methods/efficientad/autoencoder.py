"""EfficientAD's autoencoder A (Batzner et al. §3.3; nelson1425 ``common.py get_autoencoder``).

Encoder: five 4×4 stride-2 convs (3→32→32→64→64→64, pad 1, ReLU) and one conv to a 64×1×1 code
(kernel 8 at 256 px; S/32 at other sizes). Decoder: bilinear upsampling to 3, 8, 15, 32, 63, 127
(anomalib's formulas S/64 − 1, S/32, S/16 − 1, S/8, S/4 − 1, S/2 − 1 at other sizes), each followed by
a 4×4 conv (pad 2) + ReLU + Dropout 0.2, then upsampling to the teacher's grid (56 = S/4 − 8 for an
unpadded PDN, S/4 padded), conv3 + ReLU and conv3 → 384 channels. ``width`` scales the 32/64
inner channels (CPU profiles); the 64-d code stays.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Autoencoder", "decoder_sizes"]


def decoder_sizes(image_size: int) -> tuple[int, ...]:
    """The decoder's six upsampling sizes for S-px images (3, 8, 15, 32, 63, 127 at 256)."""
    s = image_size
    return tuple(max(1, v) for v in (s // 64 - 1, s // 32, s // 16 - 1, s // 8, s // 4 - 1, s // 2 - 1))


class Autoencoder(nn.Module):
    """A(I): B×3×S×S → B×``out_channels``×g×g with g = S/4 (``padded``) or S/4 − 8."""

    def __init__(self, image_size: int = 256, out_channels: int = 384, padded: bool = False, width: float = 1.0,
                 latent: int = 64, dropout: float = 0.2):
        super().__init__()
        if image_size % 32:
            raise ValueError(f"the autoencoder needs an image size that is a multiple of 32, got {image_size}")
        c32, c64 = (max(8, int(round(c * width))) for c in (32, 64))
        chans = [3, c32, c32, c64, c64, c64]
        enc = []
        for a, b in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        enc.append(nn.Conv2d(c64, latent, image_size // 32))
        self.encoder = nn.Sequential(*enc)
        self.sizes = decoder_sizes(image_size)
        self.out_size = image_size // 4 - (0 if padded else 8)
        self.stages = nn.ModuleList()
        for i in range(len(self.sizes)):
            self.stages.append(nn.Sequential(nn.Conv2d(latent if i == 0 else c64, c64, 4, padding=2),
                                             nn.ReLU(inplace=True), nn.Dropout(dropout)))
        self.head = nn.Sequential(nn.Conv2d(c64, c64, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(c64, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        for size, stage in zip(self.sizes, self.stages):
            z = stage(F.interpolate(z, size=size, mode="bilinear", align_corners=False))
        return self.head(F.interpolate(z, size=self.out_size, mode="bilinear", align_corners=False))
