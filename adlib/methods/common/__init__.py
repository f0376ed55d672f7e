"""Tools every method's anomaly map uses: smoothing, image scores, feature distances, SSIM windows;
and the diagnostics notebooks print after training (:mod:`.diagnostics`)."""

from .diagnostics import LossDrop, input_dependence, loss_drop

from .maps import (IMAGE_SCORE_MODES, ImageScore, cosine_distance_map, gaussian_blur, gaussian_window, image_score,
                   upsample)

__all__ = ["IMAGE_SCORE_MODES", "ImageScore", "LossDrop", "input_dependence", "loss_drop", "cosine_distance_map", "gaussian_blur", "gaussian_window", "image_score",
           "upsample"]
