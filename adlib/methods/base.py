"""The method contract shared by every paper: what the engine, the runner and the notebooks call.

A method is an ``nn.Module`` with a config dataclass (``self.config``) and

- ``training_step(batch) -> dict``: named loss terms (tensors), including the total ``"loss"``;
- ``predict(batch) -> (maps, scores)``: anomaly maps B×1×H×W at the input resolution and image
  scores B (higher = more anomalous);
- ``configure_optimizer() -> torch.optim.Optimizer`` over the trainable parameters only;
- ``weights_info() -> dict``: which pretrained weights it uses (``name``, ``source``, ``sha256``).

Batches are dicts of the sample schema (:mod:`adlib.data.schema`) already on the method's device.
Methods are found by name: ``adlib.methods.build("rd", **config)``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, fields, is_dataclass, replace
from typing import Callable

import torch
from torch import nn

_REGISTRY: dict[str, tuple[type, type]] = {}


class AnomalyMethod(nn.Module):
    """Base class: subclasses set ``name`` and implement the four calls above."""

    name: str = "method"
    config_class: type = object

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def configure_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def weights_info(self) -> dict:
        return {}

    @contextlib.contextmanager
    def override_config(self, **changes):
        """Temporarily change config fields (evaluation variants: score levels, test-time passes …)."""
        unknown = [k for k in changes if not hasattr(self.config, k)]
        if unknown:
            raise TypeError(f"{self.name}: unknown config keys {unknown}")
        saved = self.config
        self.config = replace(saved, **changes)
        try:
            yield self
        finally:
            self.config = saved

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Map equivalent settings onto one (so equal table cells share one run); default: unchanged."""
        return config

    def evaluation_variants(self) -> dict[str, dict]:
        """Extra evaluations of the same trained model: ``{name: config overrides}`` (default none)."""
        return {}

    def config_dict(self) -> dict:
        cfg = getattr(self, "config", None)
        return asdict(cfg) if is_dataclass(cfg) else {}

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")


def register(name: str, config_class: type) -> Callable[[type], type]:
    """Class decorator: make a method buildable by name."""

    def deco(cls: type) -> type:
        cls.name = name
        cls.config_class = config_class
        _REGISTRY[name] = (cls, config_class)
        return cls

    return deco


def available() -> list[str]:
    """Names of the registered methods."""
    return sorted(_REGISTRY)


def method_class(name: str) -> type:
    """The :class:`AnomalyMethod` subclass registered as ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {available()}")
    return _REGISTRY[name][0]


def config_class(name: str) -> type:
    """The config dataclass of the method registered as ``name`` (the only schema of its settings)."""
    method_class(name)
    return _REGISTRY[name][1]


def make_config(name: str, **config):
    """The method's config dataclass built from keyword settings; unknown keys raise a clear error."""
    cfg_cls = config_class(name)
    known = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f"{name}: unknown config keys {unknown}; known: {sorted(known)}")
    return cfg_cls(**config)


def build(name: str, **config) -> AnomalyMethod:
    """Construct a registered method from keyword config (unknown keys raise a clear error)."""
    return method_class(name)(make_config(name, **config))
