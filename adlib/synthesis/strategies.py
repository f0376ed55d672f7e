"""The synthesis strategies by name: ``build_strategy(name, image_size=..., texture_source=..., **options)``.

=========================  ================================================  =============  ========
name                       what (paper)                                      texture        source
=========================  ================================================  =============  ========
``dra``                    DRAEM Perlin + augmented texture, β blend (DAF)   yes            no
``nsa`` (``nsa_b``)        NSA Poisson patches, binary label (DAF NSA_B)     no             yes*
``cutpaste``               CutPaste normal / scar / union (DAF "CutP")       no             no
``simple_texture``         Perlin shape, flat random colour (DAF §IV.C)      no             no
``simple_shape``           rectangle, augmented texture (DAF §IV.C)          yes            no
``simple_texture_shape``   rectangle, flat random colour (DAF §IV.C)         no             no
``fourier_perlin``         Fourier amplitude mix + Perlin (DM-GRD Eq. 2–5)   yes ("self")   "self"
=========================  ================================================  =============  ========

\\* NSA's ``variant="paper"`` (the default, DAF's NSA_B) pastes from another training image;
``variant="code"`` is MRKD's same-image swap. Every strategy is a
:class:`~adlib.synthesis.base.Strategy`: callable as ``strategy(dest, src, rng) -> (image, label)``,
with ``.name``, ``.needs_source`` and ``.describe()`` (a small dict for results files). Unknown
names and options are errors; ``texture_source`` is resolved only by strategies that use textures
(``"dtd"`` without DTD on disk is an error, never a silent fallback).
"""

from __future__ import annotations

from .base import Strategy, keyword_options
from .cutpaste import CutPaste
from .dra import DRASynth
from .fourier_perlin import FourierPerlin
from .nsa import NSA, NSAConfig
from .nsa_presets import nsa_config
from .simple import PRESETS


class NSAStrategy(Strategy):
    """:class:`~adlib.synthesis.nsa.NSA` as a named strategy (wrapped, not copied) with re-draws of
    empty labels. ``variant``: ``"paper"`` (Poisson from another image: DAF's NSA_B) or ``"code"``
    (MRKD's swap from the same image); ``category`` picks the per-class settings (unlisted ones,
    e.g. MTD and DAGM, get the texture style); ``overrides``: NSAConfig fields."""

    name = "nsa"

    def __init__(self, variant: str = "paper", category: str | None = None, overrides: dict | None = None,
                 max_redraws: int = 32, image_size=None):
        super().__init__(image_size, max_redraws)
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(NSAConfig.__dataclass_fields__))
        if unknown:
            fields = ", ".join(NSAConfig.__dataclass_fields__)
            raise ValueError(f"unknown NSA overrides {unknown}; NSAConfig fields: {fields}")
        self.variant, self.category, self.overrides = variant, category, overrides
        self.nsa = NSA(nsa_config(variant, category, **overrides))
        self.needs_source = not self.nsa.config.same

    def options(self) -> dict:
        cfg = self.nsa.config
        return {"variant": self.variant, "category": self.category, "mode": cfg.mode, "same": cfg.same,
                "resize": cfg.resize, "overrides": self.overrides, **super().options()}

    def _draw(self, dest, src, rng):
        result = self.nsa(dest, src, rng)
        return result.image, result.label


STRATEGIES = {  # name: (class, fixed keyword arguments)
    "dra": (DRASynth, {"shape": "perlin", "fill": "texture"}),
    "nsa": (NSAStrategy, {}),
    "cutpaste": (CutPaste, {}),
    **{name: (DRASynth, preset) for name, preset in PRESETS.items()},
    "fourier_perlin": (FourierPerlin, {}),
}
ALIASES = {"nsa_b": "nsa"}
TEXTURE_STRATEGIES = ("dra", "simple_shape", "fourier_perlin")
STRATEGY_NAMES = tuple(STRATEGIES)


def canonical_name(name: str) -> str:
    """The registry name of ``name`` (aliases resolved); unknown names are a ValueError."""
    key = ALIASES.get(name, name)
    if key not in STRATEGIES:
        known = ", ".join([*STRATEGIES, *(f"{a} (= {t})" for a, t in ALIASES.items())])
        raise ValueError(f"unknown synthesis strategy {name!r}; known: {known}")
    return key


def needs_textures(name: str) -> bool:
    """Whether strategy ``name`` draws from a texture source (so DTD must exist for ``"dtd"``)."""
    return canonical_name(name) in TEXTURE_STRATEGIES


def strategy_options(name: str) -> tuple[str, ...]:
    """The keyword options strategy ``name`` accepts besides ``image_size`` and ``texture_source``."""
    cls, fixed = STRATEGIES[canonical_name(name)]
    return tuple(o for o in keyword_options(cls) if o not in fixed and o not in ("image_size", "texture_source"))


def build_strategy(name: str, image_size=None, texture_source="dtd", **options) -> Strategy:
    """The strategy ``name`` (see the module table) for images of ``image_size`` (an int, (H, W), or
    None: any size). ``texture_source``: ``"dtd"`` (default, the papers'), ``"procedural"``,
    ``"folder:<path>"``, a folder, a TextureSource, or ``"self"`` (fourier_perlin only); ignored by
    strategies without textures. ``options``: the strategy's own settings (:func:`strategy_options`)."""
    key = canonical_name(name)
    cls, fixed = STRATEGIES[key]
    allowed = strategy_options(key)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for synthesis strategy {key!r}; known: {', '.join(allowed)}")
    if isinstance(texture_source, str) and texture_source == "self" and key != "fourier_perlin":
        raise ValueError(f"texture_source='self' (another training image) is for fourier_perlin only, not {key!r}")
    kwargs = {**fixed, **options, "image_size": image_size}
    if key in TEXTURE_STRATEGIES:
        kwargs["texture_source"] = texture_source
    return cls(**kwargs)
