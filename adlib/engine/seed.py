"""Seeding, RNG snapshots and the batch sources of the engine (DataLoader or a dataset kept on the device).

Training batches are drawn by step: step ``s`` belongs to epoch ``s // steps_per_epoch`` and epoch
``e`` is a permutation drawn from a generator seeded with ``(seed, e)``. The order of every batch
is therefore a pure function of ``(seed, step)`` — resuming at step ``N`` sees exactly the batches
an uninterrupted run would, with nothing to save but the step.
"""

from __future__ import annotations

import contextlib
import math
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from adlib.data.base import AnomalyDataset
from adlib.data.schema import NORMAL, collate


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


def worker_init_fn(worker_id: int) -> None:
    """DataLoader workers: seed python/numpy from the worker's torch seed (base seed + worker id),
    so random augmentations differ between workers and repeat between runs."""
    info = get_worker_info()
    seed = (info.seed if info is not None else torch.initial_seed()) % 2**32
    np.random.seed(seed)
    random.seed(seed)


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
