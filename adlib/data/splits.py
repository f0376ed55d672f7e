"""Seeded train/test splits of normal images (for datasets that publish none: MTD, user folders)."""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def seeded_split(items: Sequence[T], train_fraction: float = 0.8, seed: int = 0) -> tuple[list[T], list[T]]:
    """Random (train, test) split of ``items``: ``round(train_fraction·n)`` for training.

    Independent of the input order (items are sorted first); the same seed gives the same split.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train fraction must be in (0, 1), got {train_fraction}")
    items = sorted(items)
    perm = np.random.default_rng(seed).permutation(len(items))
    n_train = int(round(train_fraction * len(items)))
    return sorted(items[i] for i in perm[:n_train]), sorted(items[i] for i in perm[n_train:])
