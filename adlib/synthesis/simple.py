"""DAF's three "simple" strategies (Cai et al., IEEE TII 2023, §IV.C, Tables III, IV, VI, VII) as
members of the :class:`~adlib.synthesis.dra.DRASynth` family, with DRA's β blend and re-draws:

- ``simple_texture``: DRA's Perlin shapes filled with one flat random colour U{0..255}³ (no
  augmenters, no texture source needed);
- ``simple_shape``: one axis-aligned rectangle (CutPaste's box sampler: area U(0.02, 0.15)·S²,
  aspect log-uniform in [0.3, 1/0.3]) filled with the augmented texture;
- ``simple_texture_shape``: that rectangle filled with a flat random colour.

The paper gives no parameters for them: the colour law and the box sampler are **choices** (DAF
spec §2.2; methods.md §7.5 proposed sides U[0.05, 0.3]·S instead). ``describe()`` records them.
"""

from __future__ import annotations

from .dra import NAMES, DRASynth

PRESETS = {name: {"shape": shape, "fill": fill} for (shape, fill), name in NAMES.items() if name != "dra"}


def simple_strategy(name: str, **options) -> DRASynth:
    """``simple_texture`` | ``simple_shape`` | ``simple_texture_shape`` with DRASynth ``options``."""
    if name not in PRESETS:
        raise ValueError(f"unknown simple strategy {name!r}; known: {', '.join(PRESETS)}")
    return DRASynth(**PRESETS[name], **options)
