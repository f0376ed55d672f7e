"""DAF's trainable heads: the Smooth layer (Fig. 3(b)), the coarse-to-fine segmentation head (Eq. 6)
and the auxiliary heads (§III.D), with the code's initialisation.

Channels generalise the code's ResNet18 numbers (64/128/256, ``In`` = fuse_channels = 256) to any
student (Lite0: 24/40/112). "⊙" of Eq. 6 is concatenation, in the order [M̄, f³], [d₃, f²], [d₂, f¹]:

1. M̄ resized bilinearly to level 3; [M̄, f³] → ×2 bilinear → Conv3×3(In + C3 → 256) + BN + ReLU;
2. [d₃, f²] → ConvTranspose(256 + C2 → 128, k 2, s 2, bias) + BN + ReLU (level 1's size);
3. [d₂, f¹] → ×2 bilinear → Conv1×1(128 + C1 → 64) + BN + ReLU;
4. → bilinear to the image size → Conv1×1(64 → 1, bias) → sigmoid: M_S.

A 1×1 convolution commutes with bilinear resizing (the weights of each output pixel sum to 1), so
``commuted=True`` (default) runs block 3's and the last convolution before their upsampling:
equal up to rounding, 4× (block 3) and 64× (last) fewer multiply-adds. No BN is moved across an
upsample. The last convolution and the sigmoid run in float32 with autocast off (bf16
probabilities create ties and CUDA autocast refuses ``binary_cross_entropy``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bilinear(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize, ``align_corners=False``, no antialiasing (``nn.Upsample``'s default)."""
    return x if tuple(x.shape[-2:]) == tuple(size) else F.interpolate(x, size=tuple(size), mode="bilinear",
                                                                      align_corners=False)


def conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def daf_init(module: nn.Module) -> None:
    """The code's ``weights_init``: Conv and ConvTranspose weights kaiming-normal (fan_in, gain √2),
    their biases PyTorch's default; BN weight 1, bias 1e-4."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.constant_(m.bias, 1e-4)


def probability(conv: nn.Conv2d, x: torch.Tensor, size=None) -> torch.Tensor:
    """sigmoid(conv(x)) in float32 (autocast off), bilinearly resized to ``size`` before the sigmoid."""
    with torch.autocast(x.device.type, enabled=False):
        logits = conv(x.float())
        return torch.sigmoid(logits if size is None else bilinear(logits, size))


class Smooth(nn.Module):
    """Conv1×1(C* → fuse_channels, no bias) + BN + ReLU on the fused discrepancy maps: M̄ (Fig. 3(b))."""

    def __init__(self, in_channels: int, out_channels: int = 256):
        super().__init__()
        self.block = conv_bn_relu(in_channels, out_channels, 1)
        self.out_channels = out_channels
        daf_init(self)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return self.block(fused)


class SegHead(nn.Module):
    """Eq. 6: M_S = Seg₃(Seg₂(Seg₁(M̄ ⊙ f³) ⊙ f²) ⊙ f¹), a B×1×H×W probability map.

    ``disc_channels``: channels of M̄ (0: no M̄, Table VII "without", and the segmentation-only network).
    """

    def __init__(self, channels: tuple[int, int, int], disc_channels: int = 256, commuted: bool = True):
        super().__init__()
        c1, c2, c3 = channels
        self.disc_channels, self.commuted = int(disc_channels), bool(commuted)
        self.seg1 = conv_bn_relu(self.disc_channels + c3, 256, 3)
        self.seg2 = nn.Sequential(nn.ConvTranspose2d(256 + c2, 128, 2, stride=2), nn.BatchNorm2d(128),
                                  nn.ReLU(inplace=True))
        self.seg3 = conv_bn_relu(128 + c1, 64, 1)
        self.out = nn.Conv2d(64, 1, 1)
        daf_init(self)

    def forward(self, feats: list[torch.Tensor], disc: torch.Tensor | None, size) -> torch.Tensor:
        f1, f2, f3 = feats
        if (disc is None) != (self.disc_channels == 0):
            raise ValueError("the head was built " + ("without" if self.disc_channels == 0 else "with")
                             + " a discrepancy input")
        x = f3 if disc is None else torch.cat([bilinear(disc, f3.shape[-2:]), f3], 1)
        x = self.seg1(bilinear(x, f2.shape[-2:]))  # Upsample×2 → Conv3×3 → BN → ReLU
        x = self.seg2(torch.cat([x, f2], 1))  # ConvTranspose ×2 → level 1's size
        if tuple(x.shape[-2:]) != tuple(f1.shape[-2:]):
            x = bilinear(x, f1.shape[-2:])  # odd sizes only
        x = torch.cat([x, f1], 1)
        up = (2 * f1.shape[-2], 2 * f1.shape[-1])
        conv, bn_relu = self.seg3[0], self.seg3[1:]
        if self.commuted:
            x = bn_relu(bilinear(conv(x), up))
            return probability(self.out, x, size)
        x = bn_relu(conv(bilinear(x, up)))
        return probability(self.out, bilinear(x, size))


class AuxHead(nn.Module):
    """§III.D: Conv3×3(C → C/4, bias) + BN + ReLU + Conv1×1(C/4 → 1, bias) + sigmoid on one student
    level (training only)."""

    def __init__(self, channels: int):
        super().__init__()
        mid = max(1, channels // 4)
        self.body = nn.Sequential(nn.Conv2d(channels, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(mid, 1, 1)
        daf_init(self)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return probability(self.out, self.body(f))
