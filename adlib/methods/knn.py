"""A training-free baseline: nearest-neighbour distance to a memory bank of the teacher's features.

Not one of the five papers: the yardstick a trained KD method must beat on the *same* frozen
features (PatchCore's idea, Roth et al. 2022, without its greedy coreset). Each training image's
teacher levels are smoothed by a ``patch_size`` average (PatchCore's local neighbourhood), brought
to the resolution of level ``resolution_level`` and concatenated; every position is one bank vector.
A test position's score is its (mean of ``k``) Euclidean distance to the bank; the map is upsampled
to the image, smoothed like RD's (σ = 4) and scored by its maximum.

``bank_fraction`` < 1 keeps a seeded random subset of the bank (fast on a CPU; 1 = exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import AnomalyMethod, Prediction, register
from .common.maps import gaussian_blur, upsample


@dataclass
class FeatureKNNConfig:
    backbone: str = "efficientnet_lite0"
    weights: str = "auto"  # "auto" | checkpoint path | "random" (explicitly untrained teacher)
    layers: tuple[int, ...] | None = None  # teacher stages (None: the registry's, 1-2-3)
    resolution_level: int = 1  # the fused features live at this level's resolution (0-based index)
    patch_size: int = 3  # local average over patch_size² positions before matching
    k: int = 1  # neighbours averaged
    bank_fraction: float = 1.0  # random subset of the bank kept (1 = every position of every image)
    sigma: float = 4.0  # Gaussian smoothing of the map, as RD
    score_topk: int | None = None  # image score: None = max of the map; k = mean of the k largest
    block_elements: int = 2 ** 26  # distances computed per block (test positions × bank size): memory vs speed


@register("knn", FeatureKNNConfig)
class FeatureKNN(AnomalyMethod):
    """Frozen teacher → patch features → distance to the nearest training patch (no training)."""

    training_free = True  # adlib.engine.fit builds the bank in on_fit_start and takes no optimizer step

    def __init__(self, config: FeatureKNNConfig | None = None):
        super().__init__()
        from adlib.backbones import build_backbone

        self.config = config = config or FeatureKNNConfig()
        if not 0.0 < config.bank_fraction <= 1.0:
            raise ValueError(f"bank_fraction must be in (0, 1], got {config.bank_fraction}")
        if int(config.k) < 1 or int(config.patch_size) < 1:
            raise ValueError(f"k and patch_size must be positive integers, got k={config.k}, "
                             f"patch_size={config.patch_size}")
        layers = None if config.layers is None else tuple(int(i) for i in config.layers)
        self.teacher = build_backbone(config.backbone, layers=layers, weights=config.weights, trainable=False)
        n_levels = len(self.teacher.channels)
        if not 0 <= config.resolution_level < n_levels:
            raise ValueError(f"resolution_level must be in 0..{n_levels - 1}, got {config.resolution_level}")
        self.teacher_input = self.teacher.adapter(self.input_spec)
        self.register_buffer("bank", torch.empty(0, sum(self.teacher.channels)))

    @torch.no_grad()
    def patch_features(self, x: torch.Tensor) -> torch.Tensor:
        """B×C×h×w: every level smoothed, resized to level ``resolution_level`` and concatenated."""
        feats = self.teacher(self.teacher_input(x))
        size = tuple(feats[self.config.resolution_level].shape[-2:])
        p = int(self.config.patch_size)
        out = []
        for f in feats:
            f = f.float()
            if p > 1:
                f = F.avg_pool2d(f, p, stride=1, padding=p // 2, count_include_pad=False)
            out.append(f if tuple(f.shape[-2:]) == size else
                       F.interpolate(f, size=size, mode="bilinear", align_corners=False))
        return torch.cat(out, 1)

    @torch.no_grad()
    def build_bank(self, batches, seed: int = 0) -> torch.Tensor:
        """Every position of every training image (``bank_fraction`` of them, seeded)."""
        vecs = [self.patch_features(b["image"]).permute(0, 2, 3, 1).reshape(-1, self.bank.shape[1]) for b in batches]
        bank = torch.cat(vecs)
        if self.config.bank_fraction < 1.0:
            g = torch.Generator().manual_seed(int(seed))
            keep = torch.randperm(len(bank), generator=g)[: max(1, int(round(self.config.bank_fraction * len(bank))))]
            bank = bank[keep.to(bank.device)]
        self.bank = bank.contiguous()
        return self.bank

    def on_fit_start(self, ctx) -> None:
        self.eval()
        with ctx.autocast():
            self.build_bank(ctx.train_batches(), seed=0)

    @torch.no_grad()
    def distances(self, feats: torch.Tensor) -> torch.Tensor:
        """B×1×h×w: mean distance of each position to its ``k`` nearest bank vectors."""
        if len(self.bank) == 0:
            raise RuntimeError("knn: the memory bank is empty; fit the method on normal images first")
        b, c, h, w = feats.shape
        q = feats.permute(0, 2, 3, 1).reshape(-1, c)
        k = min(int(self.config.k), len(self.bank))
        rows = max(1, int(self.config.block_elements) // len(self.bank))
        out = [torch.cdist(q[i:i + rows], self.bank).topk(k, dim=1, largest=False).values.mean(1)
               for i in range(0, len(q), rows)]
        return torch.cat(out).reshape(b, 1, h, w)

    @torch.no_grad()
    def predict(self, batch: dict) -> Prediction:
        x = batch["image"]
        dist = upsample(self.distances(self.patch_features(x)), tuple(x.shape[-2:]))
        amap = gaussian_blur(dist, self.config.sigma)
        return Prediction(amap, self.image_score_rule(amap), {"distance": dist})

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        raise RuntimeError("knn is training-free: adlib.engine.fit builds its bank without training steps")

    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        return None

    def load_checkpoint_state(self, state: dict) -> None:
        if "bank" in state:  # the bank's size is the data's: resize before loading
            self.bank = torch.empty_like(state["bank"])
        super().load_checkpoint_state(state)

    def weights_info(self) -> dict:
        return self.teacher.weights_info()
