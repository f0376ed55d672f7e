"""Frozen ImageNet teachers (a :class:`~adlib.backbones.backbone.Backbone` with ``trainable=False``) and
the full ImageNet classifier of the same weights."""

from __future__ import annotations

import os

import timm
import torch
from torch import nn

from .backbone import Backbone, build_backbone, load_pretrained
from .registry import get_spec
from .weights import resolve_weights

__all__ = ["Teacher", "build_teacher", "imagenet_classifier"]

Teacher = Backbone  # a teacher is a frozen backbone


def build_teacher(name: str, layers=None, weights: str | os.PathLike = "auto",
                  device: str | torch.device | None = None) -> Backbone:
    """A frozen teacher by registry name: :func:`build_backbone` with ``trainable=False``."""
    return build_backbone(name, layers=layers, weights=weights, trainable=False, device=device)


def imagenet_classifier(name: str, weights: str | os.PathLike = "auto",
                        device: str | torch.device | None = None) -> nn.Module:
    """The full timm model with its ImageNet head, same weights resolution as :func:`build_teacher`.

    Frozen, in eval mode, with ``weights_source``, ``weights_sha256``, ``weights_file``,
    ``input_mean``, ``input_std`` attributes (to show that the teacher "knows ImageNet").
    """
    spec = get_spec(name)
    if spec.timm_model is None:
        raise ValueError(f"{name} is not a timm model: it has no ImageNet classifier head")
    resolved = resolve_weights(spec, weights)
    model = timm.create_model(spec.timm_model, pretrained=False)
    load_pretrained(model, spec, resolved)
    model.weights_source = resolved.source
    model.weights_sha256 = resolved.sha256
    model.weights_file = str(resolved.file) if resolved.file is not None else None
    model.input_mean = tuple(float(v) for v in model.pretrained_cfg["mean"])
    model.input_std = tuple(float(v) for v in model.pretrained_cfg["std"])
    model.requires_grad_(False).eval()
    return model.to(device) if device is not None else model
