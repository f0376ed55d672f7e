"""MHKD (Multi-task Hybrid Knowledge Distillation) as EfficientAD's diff: the multi-task student
(:mod:`.student`) and the model with its losses, maps and switches (:mod:`.model`)."""

from .model import MHKD, MHKDConfig
from .student import GDecoder, LDecoder, MultiTaskStudent, SEncoder1, SEncoder2, StudentFeatures

__all__ = ["GDecoder", "LDecoder", "MHKD", "MHKDConfig", "MultiTaskStudent", "SEncoder1", "SEncoder2",
           "StudentFeatures"]
