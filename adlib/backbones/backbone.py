"""Backbones: feature extractors over timm (or a registered builder), frozen teachers or trainable students.

    t = build_backbone("wide_resnet50_2")                                   # frozen ImageNet teacher
    s = build_backbone("resnet18", weights="random", trainable=True)         # DAF's random-init student
    feats = t(t.input_spec.apply(images01))   # or t(t.adapter(IMAGENET)(x)) for ImageNet-normalised x

A backbone owns the conversion from a dataset's normalisation to its own (:meth:`Backbone.adapter`),
so a method declares the :class:`~adlib.data.transforms.InputSpec` its datasets use and never
re-implements normalisation.
"""

from __future__ import annotations

import os

import timm
import torch
from torch import nn

from adlib.data.transforms import InputSpec

from .registry import BackboneSpec, get_spec, stage_to_out_indices
from .weights import ResolvedWeights, read_state_dict, resolve_weights, select_for, to_timm_keys

__all__ = ["Backbone", "InputAdapter", "build_backbone", "load_pretrained"]


class InputAdapter(nn.Module):
    """Converts images from one :class:`InputSpec` to another (an affine map per channel, and a channel
    flip when the orders differ); the identity when both are equal. Buffers follow ``.to(device)``."""

    def __init__(self, source: InputSpec, target: InputSpec):
        super().__init__()
        self.source, self.target = source, target
        conv = source.converter(target)
        self.identity = conv is None
        scale, shift, self.flip_in, self.flip_out = conv or (torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1), False, False)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return x
        x = x.flip(-3) if self.flip_in else x
        x = x * self.scale + self.shift
        return x.flip(-3) if self.flip_out else x

    def extra_repr(self) -> str:
        return f"{self.source.name} -> {self.target.name}" + (" (identity)" if self.identity else "")


class Backbone(nn.Module):
    """A feature extractor: ``backbone(x)`` returns one feature map per requested stage.

    ``frozen=True`` (a teacher): always in eval mode (``train()`` is a no-op, BN statistics never
    update) and no gradients. ``frozen=False`` (a student): an ordinary trainable module.
    ``input_spec`` is the normalisation its weights expect; ``weights_info()`` where they came from.
    """

    def __init__(self, spec: BackboneSpec, body: nn.Module, layers: tuple[int, ...], resolved: ResolvedWeights,
                 input_spec: InputSpec, frozen: bool = True):
        super().__init__()
        self.body = body
        self.name = spec.name
        self.timm_model = spec.timm_model
        self.layers = tuple(layers)
        info = getattr(body, "feature_info", None)
        self.channels = list(info.channels()) if info is not None else list(body.channels)
        self.reductions = list(info.reduction()) if info is not None else list(body.reductions)
        self.weights_source = resolved.source
        self.weights_sha256 = resolved.sha256
        self.weights_file = str(resolved.file) if resolved.file is not None else None
        self.input_spec = input_spec
        self.signed_features = bool(spec.signed_features)
        self.frozen = bool(frozen)
        if self.frozen:
            self.requires_grad_(False)
            super().train(False)

    @property
    def input_mean(self) -> tuple[float, ...]:
        return self.input_spec.mean

    @property
    def input_std(self) -> tuple[float, ...]:
        return self.input_spec.std

    def train(self, mode: bool = True) -> Backbone:
        """A frozen backbone stays in eval mode whatever is asked (a parent's ``.train()`` cannot flip it)."""
        return super().train(False if self.frozen else mode)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1] (B×3×H×W) → the input normalisation these weights were trained with."""
        return self.input_spec.apply(x)

    def adapter(self, source: InputSpec) -> InputAdapter:
        """A module converting images normalised as ``source`` (the datasets') to this backbone's input."""
        return InputAdapter(source, self.input_spec)

    def weights_info(self) -> dict:
        from adlib.paths import portable_path

        return {"name": self.name, "source": self.weights_source, "sha256": self.weights_sha256,
                "file": portable_path(self.weights_file)}

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, layers={self.layers}, channels={self.channels}, "
                f"reductions={self.reductions}, weights={self.weights_source!r}, frozen={self.frozen}")


def _trim(body: nn.Module) -> nn.Module:
    """Drop EfficientNet blocks after the last requested stage (timm keeps them, unused)."""
    names = body.feature_info.module_name()
    if getattr(body, "feature_hooks", 1) is None and all(n.startswith("blocks.") for n in names):
        last = max(int(n.split(".")[1]) for n in names)
        body.blocks = body.blocks[: last + 1]
    return body


def _state_dict_for(spec: BackboneSpec, resolved: ResolvedWeights, model: nn.Module) -> dict:
    """The checkpoint with the model's keys: mapped by position onto the full model's state dict for
    ``key_map="order"`` entries (the full timm model, or ``model`` itself for a builder entry)."""
    sd = read_state_dict(resolved.file)
    full = ((lambda: timm.create_model(spec.timm_model, pretrained=False).state_dict()) if spec.timm_model is not None
            else model.state_dict)
    return to_timm_keys(sd, spec, full, origin=str(resolved.file))


def load_pretrained(model: nn.Module, spec: BackboneSpec, resolved: ResolvedWeights) -> None:
    """Load the resolved checkpoint into ``model`` (every tensor it needs must be there, shapes equal)."""
    if resolved.file is None:
        return
    sd = _state_dict_for(spec, resolved, model)
    model.load_state_dict(select_for(model, sd, origin=str(resolved.file)), strict=True)


def build_backbone(name: str, layers=None, weights: str | os.PathLike = "auto", trainable: bool = False,
                   device: str | torch.device | None = None) -> Backbone:
    """A backbone by registry name.

    ``layers``: RD-style stage numbers (default: the registry's, 1–3 = strides 4/8/16).
    ``weights``: ``"auto"`` (find or download the registry checkpoint), a file path, or ``"random"``
    (explicit opt-in to untrained weights; see :mod:`adlib.backbones.weights`).
    ``trainable``: a student whose parameters train (a random-init ResNet keeps every BN weight at 1:
    no zero-init of the blocks' last BN, as torchvision); ``False``: a frozen teacher.
    """
    spec = get_spec(name)
    stages = stage_to_out_indices(spec.layers if layers is None else layers)
    resolved = resolve_weights(spec, weights)
    if spec.builder is not None:
        body = spec.builder(stages)
        input_spec = InputSpec(spec.name, tuple(spec.mean), tuple(spec.std))
    else:
        extra = dict(spec.trainable_kwargs) if trainable else {}
        body = _trim(timm.create_model(spec.timm_model, pretrained=False, features_only=True, out_indices=stages,
                                       **extra))
        cfg = dict(getattr(body, "pretrained_cfg", None) or timm.get_pretrained_cfg(spec.timm_model).to_dict())
        input_spec = InputSpec(spec.name, tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"]))
    load_pretrained(body, spec, resolved)
    backbone = Backbone(spec, body, stages, resolved, input_spec, frozen=not trainable)
    return backbone.to(device) if device is not None else backbone
