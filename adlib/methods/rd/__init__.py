"""Reverse Distillation (RD4AD): model, loss and anomaly map, split as in anomalib."""

from .anomaly_map import anomaly_map, fuse_maps, gaussian_blur, image_score, level_maps
from .bottleneck import OCBE
from .decoder import MirroredDecoder, decoder_activation_for, preset_for
from .loss import cosine_distance_flat, cosine_distance_map, rd_loss
from .model import RDConfig, RDForward, ReverseDistillation

__all__ = ["OCBE", "MirroredDecoder", "decoder_activation_for", "RDConfig", "RDForward", "ReverseDistillation", "anomaly_map", "cosine_distance_flat",
           "cosine_distance_map", "fuse_maps", "gaussian_blur", "image_score", "level_maps", "preset_for", "rd_loss"]
