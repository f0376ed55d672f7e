"""DAF (Discrepancy Aware Framework, Cai et al., IEEE TII 2023): model, discrepancy, heads, losses,
schedule and cost, one concept per module."""

from .cost import ablation_costs, model_cost
from .discrepancy import (LevelDiscrepancy, fuse_levels, level_discrepancy, nearest, scoring_map, ssim_norm,
                          tile_channels)
from .heads import AuxHead, SegHead, Smooth, daf_init
from .losses import aux_loss, balanced_bce, masked_cos_loss, masked_ssim_loss, normal_region
from .model import ABLATIONS, DAF, DAFConfig, DAFForward, Layout, synthesis_strategy
from .schedule import daf_optimizer, lr_factor

__all__ = ["ABLATIONS", "AuxHead", "DAF", "DAFConfig", "DAFForward", "Layout", "LevelDiscrepancy", "SegHead",
           "Smooth", "ablation_costs", "aux_loss", "balanced_bce", "daf_init", "daf_optimizer", "fuse_levels",
           "level_discrepancy", "lr_factor", "masked_cos_loss", "masked_ssim_loss", "model_cost", "nearest",
           "normal_region", "scoring_map", "ssim_norm", "synthesis_strategy", "tile_channels"]
