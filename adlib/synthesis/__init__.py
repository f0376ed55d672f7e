"""Synthetic anomalies for training: NSA patches (MRKD, DAF), and the dataset wrapper that applies them.

- :mod:`adlib.synthesis.nsa` — Natural Synthetic Anomalies (Schlüter et al., ECCV 2022): patches
  cut from a source image and pasted (``swap``) or Poisson-blended (``normal`` / ``mixed``) into
  the destination, restricted to its foreground, with a pixel label of what changed.
- :mod:`adlib.synthesis.nsa_presets` — per-category settings of the NSA paper and of MRKD's code.
- :mod:`adlib.synthesis.poisson` — Poisson image editing (OpenCV ``seamlessClone`` semantics).
- :mod:`adlib.synthesis.dataset` — :class:`SyntheticAnomalies`: a training set whose every draw
  returns the clean image and its synthetic version, deterministic per (seed, image, draw).
"""

from .dataset import SyntheticAnomalies
from .nsa import NSA, NSAConfig, NSAResult, nsa_patch
from .nsa_presets import mrkd_nsa_config, nsa_paper_config

__all__ = ["NSA", "NSAConfig", "NSAResult", "SyntheticAnomalies", "mrkd_nsa_config", "nsa_paper_config", "nsa_patch"]
