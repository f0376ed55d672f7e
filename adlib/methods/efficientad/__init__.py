"""EfficientAD (Batzner et al., WACV 2024), the base MHKD is a diff of: PDN teacher and student, the
autoencoder, the three normalisations, the held-out calibration set, map post-processing and cost."""

from .autoencoder import Autoencoder, decoder_sizes
from .calibration import calibration_split, validation_split
from .inputs import PenaltyImages, jittered
from .maps import to_image
from .model import EfficientAD, EfficientADConfig
from .normalization import MapNormalizer, exact_quantile, hard_mining_loss, teacher_channel_stats

__all__ = ["Autoencoder", "EfficientAD", "EfficientADConfig", "MapNormalizer", "PenaltyImages", "calibration_split",
           "decoder_sizes", "exact_quantile", "hard_mining_loss", "jittered", "teacher_channel_stats", "to_image",
           "validation_split"]
