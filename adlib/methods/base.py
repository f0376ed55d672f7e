"""The method contract shared by every paper: everything the engine, the runner and the notebooks call.

A method is an ``nn.Module`` with a config dataclass (``self.config``). Every hook below is
declared here with a default, so the engine calls them directly:

- ``training_step(batch) -> dict``: named loss terms (tensors), including the total ``"loss"``;
- ``predict(batch) -> Prediction(maps, scores, parts)``: anomaly maps B×1×H×W at the input
  resolution, image scores B (higher = more anomalous) and named intermediate maps (RD: its
  per-level maps); unpacks as ``maps, scores = method.predict(batch)``;
- ``configure_optimizer(total_steps=, steps_per_epoch=)`` over the trainable parameters only: an
  optimizer, ``(optimizer, scheduler)`` or ``{"optimizer", "scheduler", "interval"}``;
- ``prepare_data(train, category=, seed=) -> FitData(train, val, calibration)``: what the engine
  trains on (synthetic anomalies, a texture pool, a held-out calibration split …);
- ``on_fit_start(ctx)`` / ``on_fit_end(ctx)``: a :class:`adlib.engine.FitContext` (memory banks,
  feature statistics, map normalisation …);
- ``checkpoint_state()`` / ``load_checkpoint_state(state)``: everything except the parameters loaded
  from pretrained weights (:meth:`pretrained_prefixes`), which are rebuilt from their recorded file —
  computed statistics and memory banks are saved;
- ``evaluation_variants()``: config overrides evaluated on the same trained model, all in one pass
  over the test set through ``predict_variants(batch, variants)`` (default: ``predict`` per variant);
- ``canonical_config(config)`` (classmethod): equivalent settings mapped onto one;
- ``input_spec`` (from the classmethod ``input_spec_for(config)``, also :func:`input_spec` by name):
  how the datasets must normalise images for this method (:class:`adlib.data.transforms.InputSpec`);
- ``image_score_rule``: how a map becomes an image score (:class:`adlib.methods.common.ImageScore`);
- ``weights_info()``: which pretrained weights it uses (``name``, ``source``, ``sha256``).

Batches are dicts of the sample schema (:mod:`adlib.data.schema`) already on the method's device.
Methods are found by name: ``adlib.methods.build("rd", **config)``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from typing import Any, Callable

import torch
from torch import nn

from adlib.data.transforms import IMAGENET, InputSpec

from .common.maps import ImageScore

_REGISTRY: dict[str, tuple[type, type]] = {}


@dataclass
class FitData:
    """What :meth:`AnomalyMethod.prepare_data` gives the engine: the training set, and optionally a
    validation split (checkpoint selection) and a calibration split (map normalisation, thresholds),
    both held out of ``train``."""

    train: Any
    val: Any = None
    calibration: Any = None


class Prediction:
    """``predict``'s output: ``maps`` B×1×H×W, ``scores`` B and named ``parts`` (``{name: B×1×H×W}``).

    Unpacks as the pair ``maps, scores`` (``prediction[0]``, ``prediction[1]`` too).
    """

    __slots__ = ("maps", "scores", "parts")

    def __init__(self, maps: torch.Tensor, scores: torch.Tensor, parts: dict[str, torch.Tensor] | None = None):
        self.maps, self.scores, self.parts = maps, scores, dict(parts or {})

    def __iter__(self):
        return iter((self.maps, self.scores))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        return (self.maps, self.scores)[i]

    def __repr__(self) -> str:
        return (f"Prediction(maps={tuple(self.maps.shape)}, scores={tuple(self.scores.shape)}, "
                f"parts={sorted(self.parts)})")


class AnomalyMethod(nn.Module):
    """Base class: subclasses set ``name`` (by :func:`register`) and implement ``training_step``,
    ``predict`` and ``configure_optimizer``; every other hook has a working default."""

    name: str = "method"
    config_class: type = object

    # -- what every method implements ---------------------------------------------------------
    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: dict) -> Prediction:
        raise NotImplementedError

    def configure_optimizer(self, total_steps: int | None = None, steps_per_epoch: int | None = None):
        raise NotImplementedError

    # -- data and training hooks --------------------------------------------------------------
    def prepare_data(self, train, *, category: str | None = None, seed: int = 0) -> FitData:
        """What the engine trains on (default: ``train`` as it is, no validation or calibration split)."""
        return FitData(train)

    def on_fit_start(self, ctx) -> None:
        """Called by :func:`adlib.engine.fit` before the first step (``ctx``: a ``FitContext``)."""

    def on_fit_end(self, ctx) -> None:
        """Called by :func:`adlib.engine.fit` after the last step (and after the selected state is loaded)."""

    @classmethod
    def input_spec_for(cls, config) -> InputSpec:
        """The normalisation datasets must apply for a method with this config (default: ImageNet
        mean/std, RGB). Known before the method is built, so data can be opened first."""
        return IMAGENET

    @property
    def input_spec(self) -> InputSpec:
        """The normalisation datasets must apply for this method: :meth:`input_spec_for` its config."""
        return type(self).input_spec_for(getattr(self, "config", None))

    @property
    def image_score_rule(self) -> ImageScore:
        """How a map becomes an image score (default: its maximum; a config field ``score_topk`` = mean
        of the k largest values)."""
        k = getattr(getattr(self, "config", None), "score_topk", None)
        return ImageScore("max") if k is None else ImageScore("topk_mean", int(k))

    # -- checkpoints ----------------------------------------------------------------------------
    def pretrained_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the submodules whose parameters are loaded from pretrained weights
        and stay frozen: rebuilt from their recorded file, so left out of checkpoints. Default: every
        frozen :class:`adlib.backbones.Backbone` that was loaded from a file."""
        out = []
        for name, module in self.named_modules():
            if name and getattr(module, "frozen", False) and getattr(module, "weights_file", None) is not None:
                if not any(name.startswith(p) for p in out):
                    out.append(name + ".")
        return tuple(out)

    def checkpoint_state(self) -> dict:
        """Everything a checkpoint keeps: the whole state dict but the pretrained, frozen parts."""
        skip = self.pretrained_prefixes()
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

    def load_checkpoint_state(self, state: dict) -> None:
        """Inverse of :meth:`checkpoint_state`; any other missing or unexpected key is an error."""
        skip = self.pretrained_prefixes()
        missing, unexpected = self.load_state_dict(state, strict=False)
        bad = [k for k in missing if not k.startswith(skip)] + list(unexpected)
        if bad:
            raise KeyError(f"{self.name}: checkpoint does not match the model: {bad[:8]}")

    # -- configuration and records --------------------------------------------------------------
    def weights_info(self) -> dict:
        return {}

    @classmethod
    def canonical_config(cls, config: dict) -> dict:
        """Map equivalent settings onto one (so equal table cells share one run); default: unchanged."""
        return config

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

    def mechanics_check(self, test, *, category: str | None = None, seed: int = 0) -> dict | None:
        """Numbers that show the trained mechanism works whatever the real data (DAF: its maps on
        synthetic anomalies of the normal test images), kept in the results' ``extra.mechanics``;
        default none."""
        return None

    def evaluation_variants(self) -> dict[str, dict]:
        """Extra evaluations of the same trained model: ``{name: config overrides}`` (default none)."""
        return {}

    #: config fields that only change how a prediction is composed from :meth:`forward_parts`'s output
    #: (which map is scored, its smoothing, the image-score rule): variants changing only these share one forward
    COMPOSE_FIELDS: tuple[str, ...] = ()

    def forward_parts(self, batch: dict):
        """What every composition of a prediction starts from (methods with :attr:`COMPOSE_FIELDS`)."""
        raise NotImplementedError(f"{self.name} has no forward_parts (COMPOSE_FIELDS is empty)")

    def compose(self, parts, batch: dict) -> Prediction:
        """The :class:`Prediction` the current config makes of ``forward_parts(batch)``."""
        raise NotImplementedError(f"{self.name} has no compose (COMPOSE_FIELDS is empty)")

    @torch.no_grad()
    def predict_variants(self, batch: dict, variants: dict[str, dict]) -> dict[str, Prediction]:
        """``{name: Prediction}`` of one batch under each variant's config overrides, as
        ``predict`` would give it under :meth:`override_config`. Variants that override only
        :attr:`COMPOSE_FIELDS` share one :meth:`forward_parts`, each composed under its config; the
        others run ``predict`` each (RD's parts: its teacher / decoder forward and the test passes' maps)."""
        shared = {n: ov for n, ov in variants.items() if self.COMPOSE_FIELDS and set(ov) <= set(self.COMPOSE_FIELDS)}
        out = {}
        for name, overrides in variants.items():
            if name not in shared:
                with self.override_config(**overrides):
                    out[name] = self.predict(batch)
        if shared:
            parts = self.forward_parts(batch)
            for name, overrides in shared.items():
                with self.override_config(**overrides):
                    out[name] = self.compose(parts, batch)
        return {n: out[n] for n in variants}

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
    check_config_types(name, cfg_cls, config)
    return cfg_cls(**config)


def _accepts(tp, value) -> bool | None:
    """Whether ``value`` fits the annotation ``tp`` (None: an annotation this check does not read)."""
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        verdicts = [_accepts(a, value) for a in args]
        return True if any(v is True for v in verdicts) else None if None in verdicts else False
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple or tp is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if not args:
            return True
        inner = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(inner) != len(value):
            return False
        verdicts = [_accepts(a, v) for a, v in zip(inner, value)]
        return False if False in verdicts else None if None in verdicts else True
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return None


def check_config_types(name: str, cfg_cls: type, config: dict) -> None:
    """Refuse settings whose type does not match the config dataclass (``lr: "abc"``, ``ilm: "yes"``),
    naming the key, the value and the type expected, before anything is built or trained."""
    import typing

    try:
        hints = typing.get_type_hints(cfg_cls)
    except (NameError, TypeError):  # an annotation this Python cannot evaluate: nothing to check against
        return
    bad = [f"{k}={v!r} (expected {_type_name(hints[k])})" for k, v in config.items()
           if k in hints and _accepts(hints[k], v) is False]
    if bad:
        raise TypeError(f"{name}: config values of the wrong type: {'; '.join(bad)}")


def input_spec(name: str, **config) -> InputSpec:
    """How datasets must normalise images for method ``name`` with these settings (before building it)."""
    return method_class(name).input_spec_for(make_config(name, **config))


def build(name: str, **config) -> AnomalyMethod:
    """Construct a registered method from keyword config (unknown keys raise a clear error)."""
    return method_class(name)(make_config(name, **config))


def _type_name(tp) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
