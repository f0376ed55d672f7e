"""The one sample schema every adlib dataset returns, and the collate function for it.

A sample is a ``dict`` with

============  ===========================================================================
key           value
============  ===========================================================================
image         float tensor 3×H×W (ImageNet-normalised unless ``normalize=None``)
mask          float tensor 1×H×W in {0, 1}; zeros for normal images
label         int, 0 = normal, 1 = anomalous
defect        str, the defect type (``"good"`` for normal images)
path          str, the image file
orig_size     long tensor (2,) = (H, W) of the file on disk
has_mask      bool, False for an anomalous image whose mask is unknown (pixel metrics skip it)
============  ===========================================================================

MVTec LOCO samples add ``masks`` (uint8 tensor K×H×W, one channel per ground-truth file,
holding that file's raw pixel value, which identifies the defect type in
``defects_config.json``) and ``anomaly_kind`` (``"good"``, ``"logical"`` or ``"structural"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

SAMPLE_KEYS = ("image", "mask", "label", "defect", "path", "orig_size", "has_mask")
LOCO_KEYS = ("masks", "anomaly_kind")
NORMAL = "good"


@dataclass(frozen=True)
class Record:
    """One image on disk, before decoding: what a dataset reader produces."""

    image_path: Path
    label: int
    defect: str = NORMAL
    mask_paths: tuple[Path, ...] = ()
    anomaly_kind: str | None = None  # LOCO only
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def has_mask(self) -> bool:
        """Normal images have an exact (all-zero) mask; anomalous ones need mask files."""
        return self.label == 0 or len(self.mask_paths) > 0


def collate(samples: list[dict]) -> dict:
    """Batch samples: stack tensors of equal shape, keep ragged ones (LOCO ``masks``) and strings as lists."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    batch: dict = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        first = values[0]
        if isinstance(first, torch.Tensor):
            if all(v.shape == first.shape for v in values):
                batch[key] = torch.stack(values)
            else:
                batch[key] = values
        elif isinstance(first, bool):
            batch[key] = torch.tensor(values, dtype=torch.bool)
        elif isinstance(first, int):
            batch[key] = torch.tensor(values, dtype=torch.long)
        else:
            batch[key] = values
    return batch
