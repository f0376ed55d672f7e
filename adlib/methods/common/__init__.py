"""Tools every method's anomaly map uses: smoothing, image scores, feature distances, SSIM windows."""

from .maps import (IMAGE_SCORE_MODES, ImageScore, cosine_distance_map, gaussian_blur, gaussian_window, image_score,
                   upsample)

__all__ = ["IMAGE_SCORE_MODES", "ImageScore", "cosine_distance_map", "gaussian_blur", "gaussian_window", "image_score",
           "upsample"]
