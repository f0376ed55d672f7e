"""The papers' methods, each an :class:`AnomalyMethod` found by name: ``build("rd", ...)``."""

from .base import (AnomalyMethod, FitData, Prediction, available, build, config_class, input_spec, make_config,
                   method_class, register)
from . import daf, knn, mrkd, rd, rd_var  # noqa: F401  (registers the methods)

__all__ = ["AnomalyMethod", "FitData", "Prediction", "available", "build", "config_class", "input_spec", "make_config", "method_class", "register"]
from . import dm_grd  # noqa: E402,F401  (registers DM-GRD; a line of its own)
from . import efficientad, mhkd  # noqa: E402,F401  (registers EfficientAD and MHKD)
