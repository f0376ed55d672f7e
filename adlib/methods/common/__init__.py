"""Tools every method's anomaly map uses: smoothing, image scores, feature distances, SSIM; and model cost."""

from .maps import (IMAGE_SCORE_MODES, ImageScore, cosine_distance_map, gaussian_blur, gaussian_window, image_score,
                   reflect_pad, upsample)
from .cost import count_flops, inference_cost, parameter_counts
from .ssim import ssim_map

__all__ = ["IMAGE_SCORE_MODES", "ImageScore", "cosine_distance_map", "count_flops", "gaussian_blur", "gaussian_window",
           "image_score", "inference_cost", "parameter_counts", "reflect_pad", "ssim_map", "upsample"]
