"""Seeding and RNG snapshots (checkpoints, and evaluations that must not disturb training randomness).

Batch order, DataLoaders and the on-device cache are in :mod:`adlib.engine.batches`.
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch (CPU and every CUDA device); set the cuDNN flags.

    ``deterministic=True``: ``cudnn.deterministic=True, benchmark=False`` (reproducible, a little
    slower); ``False``: ``benchmark=True`` (fastest kernels, run-to-run noise on GPU).
    Returns a ``torch.Generator`` seeded with ``seed`` for samplers.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    return torch.Generator().manual_seed(seed)


# -- RNG snapshots (checkpoints, and evaluations that must not disturb training randomness) ------
def rng_state() -> dict:
    """All global RNG states, in types ``torch.load(weights_only=True)`` accepts."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot from :func:`rng_state`."""
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        cuda = list(state["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def preserve_rng():
    """Run a block (e.g. a validation pass) without changing any global RNG state."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)
