"""Seeded splits of normal images: train/test for datasets that publish none (MTD, user folders), and a
held-out part of a training set (:func:`torch_random_split`: EfficientAD's validation set)."""

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


def torch_random_split(n: int, fraction: float = 0.1, seed: int = 42) -> tuple[list[int], list[int]]:
    """``(kept, held out)`` indices exactly as ``torch.utils.data.random_split(range(n), [int((1 − fraction)·n),
    rest], torch.Generator().manual_seed(seed))`` (EfficientAD's 10 % validation split of MVTec AD's train)."""
    import torch

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    keep = int((1.0 - fraction) * n)
    if keep < 1 or keep >= n:
        raise ValueError(f"{n} images cannot be split into {1 - fraction:.0%} kept and the rest held out "
                         "(both parts need an image)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
    return perm[:keep], perm[keep:]


def subset(ds, indices, name: str):
    """A plain :class:`~adlib.data.base.AnomalyDataset` over some of ``ds``'s records (same size,
    normalisation, masks rule), decoded images cached."""
    from .base import AnomalyDataset

    return AnomalyDataset([ds.records[i] for i in indices], image_size=ds.image_size, normalize=ds.normalize,
                          mask_interpolation=ds.mask_interpolation, cache=True, allow_missing_masks=True, name=name)
