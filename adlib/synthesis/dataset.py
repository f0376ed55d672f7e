"""A training set that pairs every normal image with a synthetic anomalous version of it.

``SyntheticAnomalies(train, synthesize, probability=α, seed=s)`` returns the base sample plus

- ``aug_image``: the synthetic image, normalised like ``image`` (or ``image`` itself when this
  draw is not augmented — probability 1 − α, MRKD Table 6);
- ``aug_mask``: 1×H×W float label of what the synthesis changed;
- ``augmented``: whether this draw was augmented.

Determinism: the engine's sampler hands keyed indices ``(index, draw)`` (``keyed_draws = True``),
where ``draw`` is the position of the sample in the whole training schedule. The synthesis RNG is
seeded with ``(seed, index, draw)``, so the anomalies do not depend on DataLoader workers, change
from epoch to epoch, and are identical after resuming. A plain integer index uses draw 0.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from adlib.data.transforms import to_float_image

# synthesize(dest HxWxC uint8, src HxWxC uint8 | None, rng) -> (image HxWxC uint8, label HxW)
Synthesizer = Callable[[np.ndarray, "np.ndarray | None", np.random.Generator], tuple]


class SyntheticAnomalies(Dataset):
    """Wrap an :class:`~adlib.data.base.AnomalyDataset` of normal images (see module docstring).

    ``needs_source``: also pass a second, randomly drawn training image to ``synthesize`` (NSA
    with ``same=False``). ``alternate``: draw d is synthetic iff d is odd (DM-GRD's
    ``anomaly_switch``: exactly half of each even-sized batch) instead of with ``probability``.
    """

    keyed_draws = True

    def __init__(self, base, synthesize: Synthesizer, probability: float = 1.0, seed: int = 0,
                 needs_source: bool = False, name: str | None = None, alternate: bool = False):
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"probability of augmenting must be in [0, 1], got {probability}")
        if not hasattr(base, "load_raw"):
            raise TypeError(f"SyntheticAnomalies needs an AnomalyDataset (with load_raw), got {type(base).__name__}")
        self.base, self.synthesize = base, synthesize
        self.probability, self.seed, self.needs_source = float(probability), int(seed), bool(needs_source)
        self.alternate = bool(alternate)
        self.name = name or f"{getattr(base, 'name', 'dataset')}+synthetic"

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, item):  # labels, split, image_size, records, counts ... of the base set
        if item == "base":
            raise AttributeError(item)
        return getattr(self.base, item)

    def __repr__(self) -> str:
        how = "alternate=True" if self.alternate else f"probability={self.probability}"
        return f"SyntheticAnomalies({self.base!r}, {how}, seed={self.seed})"

    def rng(self, index: int, draw: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(index), int(draw)])

    def synthesize_at(self, index: int, draw: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
        """(synthetic H×W×3 uint8, label H×W uint8, augmented) for one image and draw."""
        image_u8 = self.base.load_raw(index)[0]
        dest = image_u8.permute(1, 2, 0).numpy()
        rng = self.rng(index, draw)
        if (draw % 2 == 0) if self.alternate else (rng.random() >= self.probability):
            return dest, np.zeros(dest.shape[:2], np.uint8), False
        src = None
        if self.needs_source and len(self.base) > 1:
            j = int(rng.integers(len(self.base) - 1))
            j += j >= index  # another image
            src = self.base.load_raw(j)[0].permute(1, 2, 0).numpy()
        out = self.synthesize(dest, src, rng)
        image, label = (out.image, out.label) if hasattr(out, "label") else out
        return np.ascontiguousarray(image), np.asarray(label, np.uint8), True

    def __getitem__(self, key) -> dict:
        index, draw = (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (int(key), 0)
        if index < 0:
            index += len(self)
        sample = self.base[index]
        image, label, augmented = self.synthesize_at(index, draw)
        sample["aug_image"] = to_float_image(torch.from_numpy(image).permute(2, 0, 1), self.base.normalize)
        sample["aug_mask"] = torch.from_numpy(label > 0).float()[None]
        sample["augmented"] = augmented
        return sample


def synthetic_test_set(dataset, synthesize: Synthesizer, *, indices=None, draws: int = 1, seed: int = 0,
                       salt: int = 1000, needs_source: bool | None = None, with_change: bool = False):
    """A fixed set of synthetic anomalies for checking a trained model: ``synthesize`` drawn ``draws``
    times on each of ``dataset``'s normal images (``indices``; default: every label-0 image), with RNG
    seeds ``(seed, salt, index, draw)`` and, when the strategy needs one, the next normal image as its
    source. Returns the model inputs (normalised like the dataset) N×C×H×W and the labels N×1×H×W;
    ``with_change``: also what the synthesis changed, ``|synthetic − clean|`` averaged over the colour
    channels in grey levels (0–255), N×1×H×W — the truth the labels should describe."""
    if indices is None:
        indices = [i for i, lab in enumerate(dataset.labels) if int(lab) == 0]
    indices = list(indices)
    if not indices:
        raise ValueError(f"{getattr(dataset, 'name', 'the dataset')} has no normal images to draw anomalies on")
    needs_source = getattr(synthesize, "needs_source", False) if needs_source is None else needs_source
    xs, ys, cs = [], [], []
    for j, i in enumerate(indices):
        dest = dataset.load_raw(i)[0].permute(1, 2, 0).numpy()
        src = dataset.load_raw(indices[(j + 1) % len(indices)])[0].permute(1, 2, 0).numpy() if needs_source else None
        for d in range(draws):
            img, lab = synthesize(dest, src, np.random.default_rng([seed, salt, i, d]))
            xs.append(to_float_image(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1), dataset.normalize))
            ys.append(torch.from_numpy(np.asarray(lab) > 0).float()[None])
            if with_change:
                change = np.abs(np.asarray(img, np.float32).reshape(dest.shape) - dest.astype(np.float32))
                cs.append(torch.from_numpy(change.mean(-1))[None])
    out = (torch.stack(xs), torch.stack(ys))
    return (*out, torch.stack(cs)) if with_change else out


def change_vs_labels(change: torch.Tensor, labels: torch.Tensor) -> dict:
    """Do the labels describe what the synthesis changed, and how visible is it? ``change``: N×1×H×W
    ``|synthetic − clean|`` in grey levels (``synthetic_test_set(..., with_change=True)``), ``labels``
    the same shape. Returns the share of labelled pixels; the pixel AUROC of the change against the
    labels (near 1: the labels are exactly what changed; only when both classes occur); inside the
    labels the median and 90th percentile change and the share over 8 grey levels; the
    mean change outside them. A model that misses a strategy whose AUROC is near 1 but whose median
    change is a few grey levels meets a faint strategy, not misaligned truth."""
    if change.shape != labels.shape:
        raise ValueError(f"change {tuple(change.shape)} and labels {tuple(labels.shape)} differ in shape")
    inside = labels > 0.5
    out = {"label_fraction": float(inside.float().mean())}
    if inside.any() and not inside.all():
        from adlib.metrics import pixel_auroc

        out["label_vs_change_pixel_auroc"] = pixel_auroc(change, labels.float()).value
    if inside.any():
        d = change[inside].float()
        out.update(median_change_inside_grey=float(d.median()), p90_change_inside_grey=float(d.quantile(0.9)),
                   fraction_inside_over_8_grey=float((d > 8).float().mean()))
    if not inside.all():
        out["mean_change_outside_grey"] = float(change[~inside].float().mean())
    return out
