"""DM-GRD's multi-scale feature fusion (MSFF; Tran et al., ACCV 2024, §4.3, Eq. 7; spec dm_grd.md §1.4),
channel-generic: for teacher channels (C_1, C_2, C_3) the inputs MI_k have 2·C_k channels and the
outputs C_k (WRN50-2: 512/1024/2048 → 256/512/1024, 103.64 M parameters, as the authors' code).

- Block k (input 2c): x_conv = conv3×3(2c→2c); x_att = non-local(2c); x = x_conv ⊙ x_att;
  f_k = conv3×3(2c→c) → conv3×3(c→c) (no activation).
- Top-down: f_k ← f_k + conv3×3(C_{k+1}→C_k)(up×2(f_{k+1})), from the coarsest level down.
- Spatial attention, one shared conv7×7(2→1) + sigmoid on [channel max; channel mean] of the
  **inputs MI_k** (as coded; Eq. 7 writes f_k and [avg; max]), chained coarse-to-fine:
  m_K = SA(MI_K), m_k = SA(MI_k)·up(m_{k+1}) (Eq. 7 chains the other way, which cannot upsample).
- Output f_k·m_k. Bilinear upsampling with align_corners=True; PyTorch's default init except the
  non-local output BN (γ = β = 0: every block starts with x_att = x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=tuple(like.shape[-2:]), mode="bilinear", align_corners=True)


class NonLocal(nn.Module):
    """Embedded dot-product non-local block (Wang et al., CVPR 2018) with 2×2 max-pooled keys and
    values: z = W(softmax-free θᵀφ/N · g) + x, W = conv1×1 + BN initialised to zero."""

    def __init__(self, channels: int):
        super().__init__()
        inter = max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Sequential(nn.Conv2d(channels, inter, 1), nn.MaxPool2d(2))
        self.g = nn.Sequential(nn.Conv2d(channels, inter, 1), nn.MaxPool2d(2))
        self.W = nn.Sequential(nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def affinity(self, x: torch.Tensor) -> torch.Tensor:
        """f/N: B×(H·W)×(H/2·W/2), each query position's weights over the pooled positions."""
        theta = self.theta(x).flatten(2).transpose(1, 2)
        phi = self.phi(x).flatten(2)
        f = theta @ phi
        return f / f.shape[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.g(x).flatten(2).transpose(1, 2)
        y = (self.affinity(x) @ g).transpose(1, 2).reshape(x.shape[0], -1, *x.shape[-2:])
        return self.W(y) + x


class MSFFBlock(nn.Module):
    """One level: (conv3×3 ⊙ non-local) then two 3×3 convolutions halving the channels (2c → c)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(2 * channels, 2 * channels)
        self.attn = NonLocal(2 * channels)
        self.reduce = nn.Sequential(conv3x3(2 * channels, channels), conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.conv(x) * self.attn(x))


class SpatialAttention(nn.Module):
    """σ(conv7×7([max_c x; mean_c x])): B×1×H×W."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)))


class MSFF(nn.Module):
    """``MSFF(channels)(mi)``: MI_k (B×2C_k×H_k×W_k, finest level first) → f_out,k (B×C_k×H_k×W_k)."""

    def __init__(self, channels):
        super().__init__()
        self.channels = tuple(int(c) for c in channels)
        self.blocks = nn.ModuleList(MSFFBlock(c) for c in self.channels)
        # lateral[k]: level k+1 → level k (after a 2× bilinear upsampling)
        self.lateral = nn.ModuleList(conv3x3(c_next, c) for c, c_next in zip(self.channels, self.channels[1:]))
        self.sa = SpatialAttention()

    def attention_maps(self, mi: list[torch.Tensor]) -> list[torch.Tensor]:
        """m_k, coarse to fine: m_K = SA(MI_K), m_k = SA(MI_k)·up(m_{k+1}) (returned finest first)."""
        masks = [self.sa(mi[-1])]
        for x in reversed(mi[:-1]):
            masks.insert(0, self.sa(x) * up(masks[0], x))
        return masks

    def forward(self, mi: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(mi) != len(self.channels):
            raise ValueError(f"MSFF built for {len(self.channels)} levels, got {len(mi)}")
        f = [blk(x) for blk, x in zip(self.blocks, mi)]
        for k in range(len(f) - 2, -1, -1):  # top-down
            f[k] = f[k] + self.lateral[k](up(f[k + 1], f[k]))
        return [fk * mk for fk, mk in zip(f, self.attention_maps(mi))]
