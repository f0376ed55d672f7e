"""Frozen ImageNet teachers: timm ``features_only`` models with recorded weight provenance."""

from __future__ import annotations

import os

import timm
import torch
from torch import nn

from .registry import TeacherSpec, get_spec, stage_to_out_indices
from .weights import ResolvedWeights, read_state_dict, resolve_weights, select_for, to_timm_keys

__all__ = ["Teacher", "build_teacher", "imagenet_classifier"]


class Teacher(nn.Module):
    """A frozen feature extractor: ``teacher(x)`` returns one feature map per requested stage.

    Always in eval mode (``train()`` is a no-op, so BN statistics never update) and without
    gradients on its parameters. ``input_mean``/``input_std`` are the normalisation its weights
    expect (from the timm pretrained cfg); ``normalize(x)`` applies them to images in [0, 1].
    """

    frozen = True  # parameters never train (AnomalyMethod.pretrained_prefixes leaves them out of checkpoints)

    def __init__(self, spec: TeacherSpec, body: nn.Module, layers: tuple[int, ...],
                 resolved: ResolvedWeights, pretrained_cfg: dict):
        super().__init__()
        self.body = body
        self.name = spec.name
        self.timm_model = spec.timm_model
        self.layers = tuple(layers)
        self.channels = list(body.feature_info.channels())
        self.reductions = list(body.feature_info.reduction())
        self.weights_source = resolved.source
        self.weights_sha256 = resolved.sha256
        self.weights_file = str(resolved.file) if resolved.file is not None else None
        self.input_mean = tuple(float(v) for v in pretrained_cfg["mean"])
        self.input_std = tuple(float(v) for v in pretrained_cfg["std"])
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> Teacher:
        """Stay in eval mode whatever is asked (a parent's ``.train()`` cannot flip it)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (B×3×H×W) → the input normalisation these weights were trained with."""
        mean = torch.tensor(self.input_mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.input_std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def weights_info(self) -> dict:
        return {"name": self.name, "source": self.weights_source, "sha256": self.weights_sha256,
                "file": self.weights_file}

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, layers={self.layers}, channels={self.channels}, "
                f"reductions={self.reductions}, weights={self.weights_source!r}")


def _trim(body: nn.Module) -> nn.Module:
    """Drop EfficientNet blocks after the last requested stage (timm keeps them, unused)."""
    names = body.feature_info.module_name()
    if getattr(body, "feature_hooks", 1) is None and all(n.startswith("blocks.") for n in names):
        last = max(int(n.split(".")[1]) for n in names)
        body.blocks = body.blocks[: last + 1]
    return body


def _state_dict_for(spec: TeacherSpec, resolved: ResolvedWeights) -> dict:
    """The checkpoint as a timm-keyed full-model state dict."""
    origin = str(resolved.file)
    sd = read_state_dict(resolved.file)
    return to_timm_keys(sd, spec, lambda: timm.create_model(spec.timm_model, pretrained=False).state_dict(),
                        origin=origin)


def _load_into(model: nn.Module, spec: TeacherSpec, resolved: ResolvedWeights) -> None:
    if resolved.file is None:
        return
    sd = _state_dict_for(spec, resolved)
    model.load_state_dict(select_for(model, sd, origin=str(resolved.file)), strict=True)


def build_teacher(name: str, layers=None, weights: str | os.PathLike = "auto",
                  device: str | torch.device | None = None) -> Teacher:
    """A frozen teacher by registry name.

    ``layers``: RD-style stage numbers (default: the registry's, 1–3 = strides 4/8/16).
    ``weights``: ``"auto"`` (find or download the registry checkpoint), a file path, or
    ``"random"`` (explicit opt-in to untrained weights). See :mod:`adlib.backbones.weights`.
    """
    spec = get_spec(name)
    stages = stage_to_out_indices(spec.layers if layers is None else layers)
    resolved = resolve_weights(spec, weights)
    body = _trim(timm.create_model(spec.timm_model, pretrained=False, features_only=True, out_indices=stages))
    _load_into(body, spec, resolved)
    cfg = dict(getattr(body, "pretrained_cfg", None) or timm.get_pretrained_cfg(spec.timm_model).to_dict())
    teacher = Teacher(spec, body, stages, resolved, cfg)
    return teacher.to(device) if device is not None else teacher


def imagenet_classifier(name: str, weights: str | os.PathLike = "auto",
                        device: str | torch.device | None = None) -> nn.Module:
    """The full timm model with its ImageNet head, same weights resolution as :func:`build_teacher`.

    Frozen, in eval mode, with ``weights_source``, ``weights_sha256``, ``weights_file``,
    ``input_mean``, ``input_std`` attributes (to show that the teacher "knows ImageNet").
    """
    spec = get_spec(name)
    resolved = resolve_weights(spec, weights)
    model = timm.create_model(spec.timm_model, pretrained=False)
    _load_into(model, spec, resolved)
    model.weights_source = resolved.source
    model.weights_sha256 = resolved.sha256
    model.weights_file = str(resolved.file) if resolved.file is not None else None
    model.input_mean = tuple(float(v) for v in model.pretrained_cfg["mean"])
    model.input_std = tuple(float(v) for v in model.pretrained_cfg["std"])
    model.requires_grad_(False).eval()
    return model.to(device) if device is not None else model
