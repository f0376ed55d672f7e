"""Reverse Distillation (RD4AD, Deng & Li, CVPR 2022): frozen teacher → OCBE → mirrored student decoder.

The student never sees the image: it reconstructs the teacher's multi-scale features from the
compact one-class embedding, so it learns to reproduce only what normal images look like.

RD-family methods extend this class through three seams instead of copying it:
``bottleneck_input`` (what the OCBE sees — MRKD feeds features of a synthetic image),
``transform_student`` (what happens to decoder outputs — MRKD's feature-level masking) and
``extra_losses`` (additional terms — RD-Var's variance loss), weighted by ``loss_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from adlib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

from ..base import AnomalyMethod, register
from .anomaly_map import anomaly_map, image_score
from .bottleneck import OCBE
from .decoder import MirroredDecoder, preset_for
from .loss import rd_loss


@dataclass
class RDConfig:
    """RD4AD settings; defaults are the authors' code (the switches name the paper's variant)."""

    backbone: str = "wide_resnet50_2"
    weights: str = "auto"  # "auto" | path to a checkpoint | "random" (explicitly untrained teacher)
    lr: float = 0.005
    betas: tuple[float, float] = (0.5, 0.999)  # not anomalib's (0.5, 0.99)
    loss_mode: str = "flatten"  # code: one cosine per flattened map; "per_pixel" = paper Eq. 3
    fusion: str = "add"  # code mode "a": sum of level maps; "mul" = product
    sigma: float = 4.0  # Gaussian smoothing of the map (scipy, truncate 4 → 33 taps)
    decoder_block: str | None = None  # None: the backbone's preset (bottleneck for WRN50, basic otherwise)
    decoder_blocks: tuple[int, int, int] | None = None
    with_unused_conv: bool = False  # the code's never-called conv4/bn4 in OCBE (parameter count only)
    decoder_out_act: str = "relu"  # code: ReLU-ended stages; "none" for signed teachers (EfficientNet-Lite)
    score_levels: tuple[int, ...] | None = None  # levels fused into the map (None = all; MRKD Table 7)
    extra: dict = field(default_factory=dict)


@register("rd", RDConfig)
class ReverseDistillation(AnomalyMethod):
    """Teacher (frozen) → OCBE → decoder; anomaly = 1 − cos between teacher and student features."""

    def __init__(self, config: RDConfig | None = None):
        super().__init__()
        from adlib.backbones import build_teacher

        self.config = config = config or RDConfig()
        self.teacher = build_teacher(config.backbone, weights=config.weights)
        channels = tuple(self.teacher.channels)
        if len(channels) != 3:
            raise ValueError(f"RD needs a teacher with three levels, {config.backbone} gives {len(channels)}")
        block, oce_blocks, dec_blocks, base_width = preset_for(config.backbone)
        block = config.decoder_block or block
        dec_blocks = tuple(config.decoder_blocks or dec_blocks)
        self.bottleneck = OCBE(channels, block, oce_blocks, base_width, config.with_unused_conv)
        self.decoder = MirroredDecoder(channels, self.bottleneck.out_channels, block, dec_blocks, base_width,
                                       config.decoder_out_act)
        self.loss_weights = {"kd": 1.0}
        mean = torch.tensor(getattr(self.teacher, "input_mean", IMAGENET_MEAN), dtype=torch.float32)
        std = torch.tensor(getattr(self.teacher, "input_std", IMAGENET_STD), dtype=torch.float32)
        same = torch.allclose(mean, torch.tensor(IMAGENET_MEAN)) and torch.allclose(std, torch.tensor(IMAGENET_STD))
        # samples are ImageNet-normalised; re-normalise for teachers trained with other statistics
        self.register_buffer("_in_scale", (torch.tensor(IMAGENET_STD) / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_in_shift", ((torch.tensor(IMAGENET_MEAN) - mean) / std).view(1, 3, 1, 1), persistent=False)
        self._renormalise = not same

    # -- seams ---------------------------------------------------------------------------------
    @torch.no_grad()
    def teacher_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self._renormalise:
            x = x * self._in_scale + self._in_shift
        return list(self.teacher(x))

    def bottleneck_input(self, batch: dict, teacher_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """What the OCBE sees (RD: the teacher's features of the input image)."""
        return teacher_feats

    def transform_student(self, student: list[torch.Tensor], training: bool, batch: dict | None = None) -> list[torch.Tensor]:
        """Post-process decoder outputs (RD: identity; MRKD: feature-level masking + generation)."""
        return student

    def extra_losses(self, batch: dict, teacher: list[torch.Tensor], student: list[torch.Tensor]) -> dict:
        """Additional loss terms, weighted by ``self.loss_weights`` (RD: none)."""
        return {}

    # -- the method contract -------------------------------------------------------------------
    def student_features(self, batch: dict, teacher_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.decoder(self.bottleneck(self.bottleneck_input(batch, teacher_feats)))

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        t = self.teacher_features(batch["image"])
        s = self.transform_student(self.student_features(batch, t), training=True, batch=batch)
        terms = {"kd": rd_loss(t, s, self.config.loss_mode), **self.extra_losses(batch, t, s)}
        terms["loss"] = sum(self.loss_weights[k] * v for k, v in terms.items())
        return terms

    @torch.no_grad()
    def forward_maps(self, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(anomaly map B×1×H×W, per-level maps) at the input resolution."""
        x = batch["image"]
        t = self.teacher_features(x)
        s = self.transform_student(self.student_features(batch, t), training=False, batch=batch)
        return self.maps_from_features(t, s, tuple(x.shape[-2:]))

    def maps_from_features(self, teacher: list[torch.Tensor], student: list[torch.Tensor],
                           size: tuple[int, int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Fused, smoothed map of the ``score_levels`` (all by default) and every level's map."""
        return anomaly_map(teacher, student, size, self.config.fusion, self.config.sigma, self.config.score_levels)

    @torch.no_grad()
    def predict(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        amap, _ = self.forward_maps(batch)
        return amap, image_score(amap)

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam over everything but the frozen teacher (OCBE, decoder and any module a subclass adds)."""
        params = [p for n, p in self.named_parameters() if not n.startswith("teacher.") and p.requires_grad]
        return torch.optim.Adam(params, lr=self.config.lr, betas=tuple(self.config.betas))

    def weights_info(self) -> dict:
        return self.teacher.weights_info()
