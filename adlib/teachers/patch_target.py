"""The PatchCore-style descriptor a PDN is distilled from (EfficientAD ``pretraining.py``; MHKD §III.A).

From two extractor levels (WRN-101-2 ``layer2``/``layer3`` in the papers; EfficientNet-Lite stages 2/3
here, strides 8 and 16):

1. each level is patchified by a 3×3 unfold (padding 1): every position becomes a **channel-major**
   C·9 vector (C outer, the 3×3 window inner);
2. the coarser level's patch grid is upsampled bilinearly to the finer one's;
3. per level, ``adaptive_avg_pool1d`` to ``inner`` = 1024 values (a level with C·9 < 1024, such as
   Lite0's 360, has its values repeated: harmless, and recorded);
4. both levels stacked (2×1024) and ``adaptive_avg_pool1d`` to ``out_channels`` = 384.

Every step after the unfold is linear in the patch vector, so steps 3–4 are one matrix per level
(:func:`adaptive_pool_matrix`) over its C·9 patch values; a matrix over a channel-major 3×3 unfold is a 3×3
convolution (weights reshaped to 384×C×3×3, zero padding 1), and a per-position linear map commutes with the
bilinear resize of step 2. So the target is, per level, one 3×3 convolution on the level's own grid, then the
resize of its 384 channels: exact up to float summation order (tested against :func:`naive_patch_target`; on
CUDA the convolution, like the extractor's own, runs in TF32 where ``torch.backends.cudnn.allow_tf32`` allows it),
without the unfold or the N×2048 table (a process running Lite0's teacher ten times on 16 images of 128 px, one
thread: 0.81× the wall time of the unfold + resize + projection form, farm-bench median of 5 paired runs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchTarget", "adaptive_pool_matrix", "naive_patch_target"]


def adaptive_pool_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """The n_out×n_in matrix of ``F.adaptive_avg_pool1d(x, n_out)`` (bin i averages
    ``x[floor(i·n_in/n_out) : ceil((i+1)·n_in/n_out)]``)."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return m


class PatchTarget(nn.Module):
    """Steps 1–4 of the module docstring for levels of ``channels`` (fixed, no parameters)."""

    def __init__(self, channels: tuple[int, ...] | list[int], out_channels: int = 384, inner: int = 1024):
        super().__init__()
        self.channels, self.out_channels, self.inner = tuple(int(c) for c in channels), int(out_channels), int(inner)
        final = adaptive_pool_matrix(len(self.channels) * self.inner, self.out_channels)
        for i, c in enumerate(self.channels):
            level = final[:, i * self.inner:(i + 1) * self.inner] @ adaptive_pool_matrix(c * 9, self.inner)
            self.register_buffer(f"proj{i}", level.float(), persistent=False)

    @property
    def repeats_values(self) -> bool:
        """Whether a level has fewer than ``inner`` patch values (the pooling then repeats them)."""
        return any(c * 9 < self.inner for c in self.channels)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """B×out×H×W at the first level's grid: per level a 3×3 convolution, then the bilinear resize."""
        size = tuple(feats[0].shape[-2:])
        out = 0
        for i, f in enumerate(feats):
            weight = getattr(self, f"proj{i}").view(self.out_channels, self.channels[i], 3, 3)
            y = F.conv2d(f.float(), weight, padding=1)
            if tuple(y.shape[-2:]) != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            out = out + y
        return out


def naive_patch_target(feats: list[torch.Tensor], out_channels: int = 384, inner: int = 1024) -> torch.Tensor:
    """The same descriptor computed as ``pretraining.py`` does, position by position (a reference for tests)."""
    size = tuple(feats[0].shape[-2:])
    patches = []
    for f in feats:  # each position's zero-padded 3×3 window, flattened channel-major, then the grid resized
        g = F.pad(f.float(), (1, 1, 1, 1))
        hh, ww = f.shape[-2:]
        win = torch.stack([torch.stack([g[:, :, y:y + 3, x:x + 3].reshape(len(f), -1) for x in range(ww)], -1)
                           for y in range(hh)], -2)
        patches.append(F.interpolate(win, size=size, mode="bilinear", align_corners=False) if (hh, ww) != size else win)
    b, _, h, w = patches[0].shape
    out = torch.zeros(b, out_channels, h, w)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                levels = [F.adaptive_avg_pool1d(p[n, :, y, x].view(1, 1, -1), inner).view(-1) for p in patches]
                out[n, :, y, x] = F.adaptive_avg_pool1d(torch.stack(levels).view(1, 1, -1), out_channels).view(-1)
    return out
