"""The student: a decoder that mirrors the teacher, from the OCBE embedding back to three levels.

``de_wide_resnet50_2`` of the RD4AD code = ``MirroredDecoder((256, 512, 1024), 2048, "bottleneck",
(3, 4, 6), base_width=128)``: stages of 3, 4, 6 bottlenecks (planes 256, 128, 64), each starting
with a 2× upsampling block, giving 1024×16×16, 512×32×32, 256×64×64. Outputs are returned
ordered like the teacher's (level 1 first): D¹ is the 256×64×64 map.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import BLOCKS, init_rd_weights, make_stage


class MirroredDecoder(nn.Module):
    """Three upsampling stages producing maps with the teacher's channels, deepest first.

    ``out_activation="relu"`` (the RD4AD code): every stage ends in a ReLU, so the student's maps are
    non-negative — right for ResNet teachers, whose tapped features are post-ReLU. ``"none"``: the
    last block of each stage is linear, for teachers with signed features (EfficientNet-Lite's
    linear-bottleneck outputs are ~45 % negative, which a ReLU output can never match).
    """

    def __init__(self, channels: tuple[int, int, int], in_channels: int, block: str = "bottleneck",
                 n_blocks: tuple[int, int, int] = (3, 4, 6), base_width: int = 64, out_activation: str = "relu"):
        super().__init__()
        if out_activation not in ("relu", "none"):
            raise ValueError(f"out_activation must be 'relu' or 'none', got {out_activation!r}")
        blk = BLOCKS[block]
        stages, cin = [], in_channels
        for c, n in zip(reversed(channels), n_blocks):  # c3 first
            if c % blk.expansion:
                raise ValueError(f"teacher channels {c} not divisible by the {block} expansion {blk.expansion}")
            stages.append(make_stage(blk, cin, c // blk.expansion, n, up=True, base_width=base_width))
            cin = c
        self.stages = nn.ModuleList(stages)
        for stage in self.stages:
            stage[-1].out_relu = out_activation == "relu"
        init_rd_weights(self)

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for stage in self.stages:
            z = stage(z)
            outs.append(z)
        return outs[::-1]  # [D¹ (level 1), D², D³]


DECODER_PRESETS = {
    # backbone: (block, OCE blocks, decoder blocks per stage, base width) as in the RD4AD code
    "wide_resnet50_2": ("bottleneck", 3, (3, 4, 6), 128),
    "wide_resnet101_2": ("bottleneck", 3, (3, 4, 23), 128),
    "resnet50": ("bottleneck", 3, (3, 4, 6), 64),
    "resnet18": ("basic", 2, (2, 2, 2), 64),
    "resnet34": ("basic", 3, (3, 4, 6), 64),
}
GENERIC_PRESET = ("basic", 2, (2, 2, 2), 64)  # any other teacher: a ResNet-18-like mirror of its channels


def decoder_activation_for(backbone: str) -> str:
    """The decoder's stage end that can match the teacher: ``"none"`` when its tapped features are
    signed (EfficientNet-Lite), ``"relu"`` (the RD4AD code) for post-ReLU teachers and unknown names."""
    from adlib.backbones.registry import TEACHERS

    spec = TEACHERS.get(backbone)
    return "none" if spec is not None and spec.signed_features else "relu"


def preset_for(backbone: str) -> tuple[str, int, tuple[int, int, int], int]:
    return DECODER_PRESETS.get(backbone, GENERIC_PRESET)
