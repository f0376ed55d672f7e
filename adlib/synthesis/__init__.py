"""Synthetic anomalies for training: the strategies of MRKD, DAF and DM-GRD behind one interface,
and the dataset wrapper that applies them.

Every strategy is a picklable callable ``strategy(dest, src, rng) -> (image, label)`` on H×W×C
uint8 images, deterministic per rng (:mod:`adlib.synthesis.base`); build one by name with
:func:`build_strategy` (``"dra"``, ``"nsa"``, ``"cutpaste"``, ``"simple_texture"``,
``"simple_shape"``, ``"simple_texture_shape"``, ``"fourier_perlin"``; table in
:mod:`adlib.synthesis.strategies`).

- :mod:`adlib.synthesis.nsa` — Natural Synthetic Anomalies (Schlüter et al., ECCV 2022): patches
  cut from a source image and pasted (``swap``) or Poisson-blended (``normal`` / ``mixed``) into
  the destination, restricted to its foreground, with a pixel label of what changed.
- :mod:`adlib.synthesis.nsa_presets` — per-category settings of the NSA paper and of MRKD's code.
- :mod:`adlib.synthesis.poisson` — Poisson image editing (OpenCV ``seamlessClone`` semantics).
- :mod:`adlib.synthesis.perlin` — DRAEM's Perlin noise and masks (shared by DRA and DM-GRD).
- :mod:`adlib.synthesis.textures` — named texture sources: DTD (an error when absent), a folder,
  or a procedural stand-in; :mod:`adlib.synthesis.texture_aug` — DRAEM's 10 texture augmenters.
- :mod:`adlib.synthesis.shapes` — CutPaste's box sampler (CutPaste, simple shapes).
- :mod:`adlib.synthesis.dra` — DRA (DRAEM Eq. 1 as DAF uses it): Perlin or box shape, texture or
  colour fill, β opacity blend; :mod:`adlib.synthesis.simple` — DAF's three simple strategies.
- :mod:`adlib.synthesis.cutpaste` — CutPaste normal / scar / union (Li et al., CVPR 2021).
- :mod:`adlib.synthesis.fourier` and :mod:`adlib.synthesis.fourier_perlin` — DM-GRD's Fourier
  amplitude mix + Perlin (Eqs. 2–5), ``mode="code"`` (default) or ``"paper"``.
- :mod:`adlib.synthesis.strategies` — the registry: :func:`build_strategy`.
- :mod:`adlib.synthesis.dataset` — :class:`SyntheticAnomalies`: a training set whose every draw
  returns the clean image and its synthetic version, deterministic per (seed, image, draw).
"""

from .base import Strategy, Synthesis
from .cutpaste import CutPaste
from .dataset import SyntheticAnomalies, change_vs_labels, synthetic_test_set
from .dra import DRASynth
from .fourier import amplitude_mix
from .fourier_perlin import FourierPerlin
from .nsa import NSA, NSAConfig, NSAResult, nsa_patch
from .nsa_presets import mrkd_nsa_config, nsa_paper_config
from .perlin import perlin_mask, perlin_noise, random_perlin
from .strategies import STRATEGY_NAMES, NSAStrategy, build_strategy, needs_textures, strategy_options
from .textures import MissingTexturesError, ProceduralTextures, TextureSource, texture_source

__all__ = [
    "NSA",
    "STRATEGY_NAMES",
    "CutPaste",
    "DRASynth",
    "FourierPerlin",
    "MissingTexturesError",
    "NSAConfig",
    "NSAResult",
    "NSAStrategy",
    "ProceduralTextures",
    "Strategy",
    "SyntheticAnomalies",
    "Synthesis",
    "TextureSource",
    "amplitude_mix",
    "build_strategy",
    "mrkd_nsa_config",
    "needs_textures",
    "nsa_paper_config",
    "nsa_patch",
    "perlin_mask",
    "perlin_noise",
    "random_perlin",
    "strategy_options",
    "change_vs_labels",
    "synthetic_test_set",
    "texture_source",
]
