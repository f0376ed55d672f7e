"""Tools every method's anomaly map uses: smoothing, image scores, feature distances, SSIM; model cost;
and the diagnostics notebooks print after training (:mod:`.diagnostics`)."""

from .cost import count_flops, inference_cost, parameter_counts
from .diagnostics import LossDrop, input_dependence, loss_drop
from .maps import (IMAGE_SCORE_MODES, ImageScore, cosine_distance_map, gaussian_blur, gaussian_window, image_score,
                   reflect_pad, upsample)
from .ssim import ssim_map

__all__ = ["IMAGE_SCORE_MODES", "ImageScore", "LossDrop", "cosine_distance_map", "count_flops", "gaussian_blur",
           "gaussian_window", "image_score", "inference_cost", "input_dependence", "loss_drop", "parameter_counts",
           "reflect_pad", "ssim_map", "upsample"]
