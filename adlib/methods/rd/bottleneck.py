"""One-class bottleneck embedding (OCBE): multi-scale fusion (MFF) + one-class embedding (OCE).

RD4AD §3.2 / ``BN_layer`` in the authors' code. For WRN50-2 (channels 256/512/1024):
level 1 → conv3×3 s2 (256→512) BN ReLU → conv3×3 s2 (512→1024) BN ReLU; level 2 → conv3×3 s2
(512→1024) BN ReLU; level 3 as is; concatenate (3072×16×16); OCE = one ResNet stage of 3
bottlenecks (planes 512, width 1024) with stride 2 → 2048×8×8. Any teacher: the same recipe
with its channels c1, c2, c3 and output 2·c3.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import BLOCKS, conv1x1, conv3x3, init_rd_weights, make_stage


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [conv3x3(cin, cout, 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class OCBE(nn.Module):
    """MFF + OCE. ``forward(feats)`` takes the teacher's three maps, returns the embedding."""

    def __init__(self, channels: tuple[int, int, int], block: str = "bottleneck", n_blocks: int = 3,
                 base_width: int = 64, with_unused_conv: bool = False):
        super().__init__()
        c1, c2, c3 = channels
        blk = BLOCKS[block]
        self.fuse1 = nn.Sequential(*_down(c1, c2), *_down(c2, c3))
        self.fuse2 = nn.Sequential(*_down(c2, c3))
        self.out_channels = 2 * c3
        self.oce = make_stage(blk, 3 * c3, self.out_channels // blk.expansion, n_blocks, stride=2, base_width=base_width)
        if with_unused_conv:
            # the authors' BN_layer defines conv4/bn4 (4096→2048) and never calls it; its parameters
            # still sit in the optimiser (8.39 M for WRN50). Kept only to match parameter counts.
            self.unused = nn.Sequential(conv1x1(4 * c3, self.out_channels), nn.BatchNorm2d(self.out_channels))
        init_rd_weights(self)

    def fuse(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """MFF: bring levels 1 and 2 to level 3's resolution and concatenate (B×3c3×h×w)."""
        return torch.cat([self.fuse1(feats[0]), self.fuse2(feats[1]), feats[2]], dim=1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.oce(self.fuse(feats)).contiguous()
