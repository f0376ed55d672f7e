"""The extractor as teacher (CPU profiles; MHKD spec §3.4): the distillation target itself, no PDN.

The PDN recipe distils :class:`~adlib.teachers.patch_target.PatchTarget` of an ImageNet extractor seen at
twice the PDN's input size. Serving that target directly gives the padded PDN's grid (384 × S/4 × S/4
for an S-px image: the extractor sees the image upsampled to 2S, its stride-8 and stride-16 levels are
S/4 and S/8) with no distillation error, but a receptive field wider than 33 px, so localisation is
blurrier. It is always labelled ``extractor:<name>``, never a PDN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from adlib.data.transforms import InputSpec

from .patch_target import PatchTarget

__all__ = ["ExtractorTeacher", "EXTRACTOR_PREFIX", "extractor_name"]

EXTRACTOR_PREFIX = "extractor:"
EXTRACTOR_LEVELS = (2, 3)  # strides 8 and 16 (WRN layer2/layer3; EfficientNet-Lite stages 2/3)


def extractor_name(teacher: str) -> str | None:
    """The backbone of ``"extractor:<backbone>"``, else None (a PDN teacher)."""
    return teacher[len(EXTRACTOR_PREFIX):] if teacher.startswith(EXTRACTOR_PREFIX) else None


class ExtractorTeacher(nn.Module):
    """Frozen: images normalised as ``source`` → upsampled ×``scale`` → extractor levels 2, 3 → the
    384-channel patch descriptor (``forward`` returns ``[B×384×S/4×S/4]``, like a PDN backbone)."""

    frozen = True

    def __init__(self, backbone: str, source: InputSpec, weights: str = "auto", out_channels: int = 384,
                 scale: int = 2):
        super().__init__()
        from adlib.backbones import build_backbone

        self.extractor = build_backbone(backbone, layers=EXTRACTOR_LEVELS, weights=weights, trainable=False)
        self.adapter = self.extractor.adapter(source)
        self.target = PatchTarget(self.extractor.channels, out_channels)
        self.name, self.scale = f"{EXTRACTOR_PREFIX}{backbone}", int(scale)
        self.channels, self.reductions = [out_channels], [4]
        self.weights_file = self.extractor.weights_file
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "ExtractorTeacher":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        big = F.interpolate(self.adapter(x), size=size, mode="bilinear", align_corners=False)
        return [self.target(self.extractor(big))]

    def weights_info(self) -> dict:
        info = self.extractor.weights_info()
        return {**info, "name": self.name, "teacher_kind": "extractor as teacher (the PDN's distillation target "
                "itself, not a PDN)", "paper_teacher": False, "patch_values_repeated": self.target.repeats_values}
