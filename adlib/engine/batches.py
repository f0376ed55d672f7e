"""Where training and evaluation batches come from: the step sampler, DataLoaders, the on-device
dataset cache, and the policy that picks between them.

Training batches are drawn by step: step ``s`` belongs to epoch ``s // steps_per_epoch`` and epoch
``e`` is a permutation drawn from a generator seeded with ``(seed, e)``. The order of every batch
is therefore a pure function of ``(seed, step)`` — resuming at step ``N`` sees exactly the batches
an uninterrupted run would, with nothing to save but the step.
"""

from __future__ import annotations

import math
import os
import random
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from adlib.data.base import AnomalyDataset
from adlib.data.schema import NORMAL, collate

from .env import move_batch

CACHE_SHARE = 0.25  # "auto" caches a dataset on the GPU when it takes less than this share of free memory
MAX_WORKERS = 8


def worker_init_fn(worker_id: int) -> None:
    """DataLoader workers: seed python/numpy from the worker's torch seed (base seed + worker id),
    so random augmentations differ between workers and repeat between runs."""
    info = get_worker_info()
    seed = (info.seed if info is not None else torch.initial_seed()) % 2**32
    np.random.seed(seed)
    random.seed(seed)


# -- batch order -------------------------------------------------------------------------------
def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    if n <= 0:
        raise ValueError("the training set is empty")
    spe = n // batch_size if drop_last else math.ceil(n / batch_size)
    if spe == 0:
        raise ValueError(f"drop_last=True with {n} images and batch_size={batch_size} leaves no batch")
    return spe


class StepSampler:
    """Batch sampler over steps ``[start, total)``: a fresh permutation per epoch seeded by ``(seed, epoch)``.

    ``keyed=True`` yields ``(index, draw)`` pairs instead of indices, ``draw = step·batch_size + j``
    being the sample's position in the whole schedule: datasets that synthesise per draw
    (``keyed_draws = True``, e.g. :class:`adlib.synthesis.SyntheticAnomalies`) seed from it.
    """

    def __init__(self, n: int, batch_size: int, total_steps: int, start_step: int = 0, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, keyed: bool = False):
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), shuffle, int(seed)
        self.keyed = bool(keyed)
        self.spe = steps_per_epoch(self.n, self.batch_size, drop_last)
        self.start, self.total = int(start_step), int(total_steps)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        return torch.randperm(self.n, generator=g)

    def __len__(self) -> int:
        return max(self.total - self.start, 0)

    def __iter__(self):
        order, epoch = None, None
        for step in range(self.start, self.total):
            e, i = divmod(step, self.spe)
            if e != epoch:
                order, epoch = self.epoch_order(e), e
            idx = order[i * self.batch_size:(i + 1) * self.batch_size].tolist()
            yield [(k, step * self.batch_size + j) for j, k in enumerate(idx)] if self.keyed else idx


def make_loader(dataset, batch_size: int = 16, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, device: str | torch.device | None = None, batch_sampler=None) -> DataLoader:
    """A DataLoader with :func:`adlib.data.schema.collate`, a seeded generator (so it never draws
    from the global RNG), seeded workers and ``pin_memory`` when the target device is CUDA."""
    pin = device is not None and torch.device(device).type == "cuda"
    common = dict(collate_fn=collate, num_workers=num_workers, pin_memory=pin, worker_init_fn=worker_init_fn,
                  generator=torch.Generator().manual_seed(int(seed)), persistent_workers=num_workers > 0)
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, **common)


# -- the whole (uint8) dataset on the device -----------------------------------------------------
def device_cache_supported(dataset) -> bool:
    """True for plain :class:`AnomalyDataset` readers with a fixed image size (no custom ``__getitem__``)."""
    return (isinstance(dataset, AnomalyDataset) and dataset.image_size is not None
            and type(dataset).__getitem__ is AnomalyDataset.__getitem__)


class DeviceCache:
    """Every decoded uint8 image (and union mask) of an :class:`AnomalyDataset` held on ``device``;
    batches are gathered and normalised there, exactly as ``AnomalyDataset.__getitem__`` does."""

    def __init__(self, dataset: AnomalyDataset, device: torch.device, progress: bool = True):
        if not device_cache_supported(dataset):
            raise TypeError("on-device caching needs an AnomalyDataset with a fixed image_size and the "
                            f"standard __getitem__, got {type(dataset).__name__}")
        dataset.preload(progress=progress)
        raw = [dataset.load_raw(i) for i in range(len(dataset))]
        self.device = device
        self.normalize = dataset.normalize
        self.images = torch.stack([r[0] for r in raw]).to(device)  # N×3×H×W uint8
        hw = self.images.shape[-2:]
        self.masks = torch.stack([(r[1] > 0).any(0, keepdim=True) if r[1].shape[0] else torch.zeros((1, *hw), dtype=torch.bool)
                                  for r in raw]).to(device)
        self.labels = torch.as_tensor(dataset.labels, dtype=torch.long).to(device)
        self.has_mask = torch.tensor([r.has_mask for r in dataset.records], dtype=torch.bool, device=device)
        self.orig = torch.tensor([r[2] for r in raw], dtype=torch.long, device=device)
        self.defects = dataset.defects
        self.paths = [str(r.image_path) for r in dataset.records]
        self.multi = dataset.multi_mask
        self.raw_masks = [r[1] for r in raw] if self.multi else None
        self.kinds = [r.anomaly_kind or NORMAL for r in dataset.records]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, indices: list[int]) -> dict:
        idx = torch.as_tensor(indices, dtype=torch.long).to(self.device, non_blocking=True)
        x = self.normalize.apply(self.images.index_select(0, idx).float().div_(255.0))  # = to_float_image
        out = {"image": x, "mask": self.masks.index_select(0, idx).float(), "label": self.labels.index_select(0, idx),
               "defect": [self.defects[i] for i in indices], "path": [self.paths[i] for i in indices],
               "orig_size": self.orig.index_select(0, idx), "has_mask": self.has_mask.index_select(0, idx)}
        if self.multi:
            out["masks"] = collate([{"m": self.raw_masks[i].to(self.device)} for i in indices])["m"]
            out["anomaly_kind"] = [self.kinds[i] for i in indices]
        return out


# -- the policy: cache on the device, or DataLoader workers ---------------------------------------
def fits_on_device(dataset, device: torch.device, share: float = CACHE_SHARE) -> bool:
    """Whether ``dataset`` can be cached and its uint8 images (3 channels + mask) take less than
    ``share`` of the CUDA device's free memory."""
    if not device_cache_supported(dataset):
        return False
    h, w = dataset.image_size  # (H, W) for every AnomalyDataset
    free, _ = torch.cuda.mem_get_info(device)
    return len(dataset) * 4 * h * w < share * free


def resolve_batch_policy(dataset, device: torch.device, on_gpu_cache="auto", num_workers="auto") -> tuple[bool, int]:
    """``(on_gpu_cache, num_workers)`` with each ``"auto"`` resolved; explicit values are kept.

    On the CPU "auto" is no cache and no workers. On CUDA, datasets that synthesise per draw
    (``keyed_draws``: CPU work per sample) get DataLoader workers (draws are keyed, so results do
    not change), and plain image sets are kept on the GPU when they fit (no per-step CPU work).
    """
    cuda = torch.device(device).type == "cuda"
    keyed = bool(getattr(dataset, "keyed_draws", False))
    if isinstance(num_workers, str):
        if num_workers != "auto":
            raise ValueError(f"num_workers must be an int or 'auto', got {num_workers!r}")
        num_workers = min(MAX_WORKERS, max((os.cpu_count() or 1) - 1, 0)) if cuda and keyed else 0
    if isinstance(on_gpu_cache, str):
        if on_gpu_cache != "auto":
            raise ValueError(f"on_gpu_cache must be a bool or 'auto', got {on_gpu_cache!r}")
        on_gpu_cache = cuda and not keyed and fits_on_device(dataset, device)
    return bool(on_gpu_cache), int(num_workers)


class BatchSource:
    """The training batches of :func:`adlib.engine.fit`, on the device: gathered from a
    :class:`DeviceCache` when ``on_gpu_cache`` (and the dataset allows it), else from a DataLoader
    driven by a :class:`StepSampler` (keyed for ``keyed_draws`` datasets)."""

    def __init__(self, dataset, device: torch.device, channels_last: bool, *, seed: int = 0,
                 on_gpu_cache: bool = False, num_workers: int = 0, progress: bool = True):
        self.dataset, self.device, self.channels_last = dataset, device, channels_last
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.cache = None
        if on_gpu_cache:
            if device_cache_supported(dataset):
                self.cache = DeviceCache(dataset, device, progress=progress)
            else:
                warnings.warn(f"on_gpu_cache: {type(dataset).__name__} is not a plain AnomalyDataset with a fixed "
                              "image size; using a DataLoader instead", stacklevel=3)
        self.keyed = bool(getattr(dataset, "keyed_draws", False)) and self.cache is None

    @property
    def cached(self) -> bool:
        return self.cache is not None

    def sampler(self, batch_size: int, total: int, start: int = 0, shuffle: bool = True,
                drop_last: bool = False) -> StepSampler:
        """The step sampler of steps ``[start, total)`` for this source."""
        return StepSampler(len(self.dataset), batch_size, total, start, shuffle, self.seed, drop_last, keyed=self.keyed)

    def __call__(self, sampler):
        """Batches on the device, one per step of ``sampler``."""
        if self.cache is not None:
            for idx in sampler:
                yield move_batch(self.cache.batch(idx), self.device, self.channels_last)
        else:
            for b in make_loader(self.dataset, seed=self.seed, num_workers=self.num_workers, device=self.device,
                                 batch_sampler=sampler):
                yield move_batch(b, self.device, self.channels_last)
