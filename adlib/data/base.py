"""``AnomalyDataset``: decoding, resizing, normalising and caching shared by every reader.

A reader only has to produce a list of :class:`~adlib.data.schema.Record`; this class turns each
into a sample of the one schema (see :mod:`adlib.data.schema`).
"""

from __future__ import annotations

import contextlib
from collections import Counter, OrderedDict
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .errors import DataError, DatasetNotFoundError, MaskError
from .io import read_image, read_mask_values
from .schema import NORMAL, Record
from .transforms import InputSpec, as_hw, as_input_spec, resize_image, resize_mask, to_float_image


_SHARED: OrderedDict | None = None  # decoded splits shared inside shared_decoding(), newest last
_SHARED_MAX = 0


@contextlib.contextmanager
def shared_decoding(max_splits: int = 6):
    """Inside the block, datasets opened with ``cache=True`` on the same files, reader, image size and
    mask rule share one store of decoded uint8 images and masks (the ``max_splits`` most recent
    splits are kept): the cells of one grid decode each split once. Normalisation is applied per
    dataset when a sample is read, so datasets normalised differently share it too. Nested blocks
    use the outer store; it is dropped when the outer block ends."""
    global _SHARED, _SHARED_MAX
    if _SHARED is not None:
        yield
        return
    _SHARED, _SHARED_MAX = OrderedDict(), int(max_splits)
    try:
        yield
    finally:
        _SHARED, _SHARED_MAX = None, 0


def _decoded_store(ds: "AnomalyDataset") -> dict:
    """The dict ``ds`` caches decoded items in: shared inside :func:`shared_decoding`, else its own."""
    if _SHARED is None:
        return {}
    key = (type(ds).__module__, type(ds).__qualname__, ds.image_size, ds.mask_interpolation,
           tuple((str(r.image_path), tuple(map(str, r.mask_paths)), int(r.label)) for r in ds.records))
    store = _SHARED.pop(key, None)
    _SHARED[key] = store if store is not None else {}
    while len(_SHARED) > _SHARED_MAX:
        _SHARED.popitem(last=False)
    return _SHARED[key]


class AnomalyDataset(Dataset):
    """A list of records decoded on demand into samples of the adlib schema.

    Args:
        records: what to load (from a reader such as :func:`adlib.data.mvtec.mvtec_records`).
        image_size: ``int`` or ``(H, W)`` to resize to (PIL bilinear), ``None`` to keep the size.
        normalize: the input spec of the model that reads the samples (:class:`~adlib.data.transforms.InputSpec`,
            or its name: ``"imagenet"`` (default), ``"unit"`` / ``None`` for RGB in [0, 1], ``"unit_bgr"``).
        mask_interpolation: ``"nearest"`` (default) or ``"bilinear"`` (RD4AD: bilinear then > 0.5).
        cache: keep decoded, resized uint8 images and masks in memory after the first read
            (call :meth:`preload` to fill it up front). Costs ~3·H·W bytes per image.
        multi_mask: also return ``masks`` (K×H×W raw values, one per mask file; MVTec LOCO).
        allow_missing_masks: accept anomalous images without masks (``has_mask=False``) instead
            of raising :class:`MaskError` (user folders, image-level datasets such as DAGM).
        name: shown in progress bars and errors.
    """

    def __init__(
        self,
        records: Sequence[Record],
        image_size: int | tuple[int, int] | None = 256,
        normalize: str | InputSpec | None = "imagenet",
        mask_interpolation: str = "nearest",
        cache: bool = False,
        multi_mask: bool = False,
        allow_missing_masks: bool = False,
        name: str = "dataset",
    ):
        self.records = list(records)
        self.name = name
        if not self.records:
            raise DatasetNotFoundError(f"{name}: no images found")
        if not allow_missing_masks:
            missing = [r for r in self.records if not r.has_mask]
            if missing:
                raise MaskError(
                    f"{name}: {len(missing)} anomalous image(s) have no ground-truth mask, e.g. "
                    f"{missing[0].image_path}. Add the mask or pass allow_missing_masks=True "
                    "(image-level evaluation only for those images)."
                )
        self.image_size = as_hw(image_size)
        self.normalize = as_input_spec(normalize)  # validates early
        resize_mask(np.zeros((2, 2), np.uint8), (1, 1), mask_interpolation)
        self.mask_interpolation = mask_interpolation
        self.multi_mask = multi_mask
        self.cache = cache
        self._cache: dict[int, tuple] = _decoded_store(self) if cache else {}

    # -- inspection -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> np.ndarray:
        return np.array([r.label for r in self.records], dtype=np.int64)

    @property
    def defects(self) -> list[str]:
        return [r.defect for r in self.records]

    def counts(self) -> dict[str, int]:
        """Number of images per defect type (``good`` for normal)."""
        return dict(sorted(Counter(self.defects).items()))

    def __repr__(self) -> str:
        size = "original" if self.image_size is None else f"{self.image_size[0]}x{self.image_size[1]}"
        return f"{type(self).__name__}({self.name!r}, n={len(self)}, size={size}, counts={self.counts()})"

    # -- decoding -------------------------------------------------------------------------
    def load_raw(self, index: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Decode and resize one record: (3×H×W uint8 image, K×H×W uint8 masks, original (H, W))."""
        if self.cache and index in self._cache:
            return self._cache[index]
        rec = self.records[index]
        img = read_image(rec.image_path)
        orig = (img.height, img.width)
        image = torch.from_numpy(resize_image(img, self.image_size).copy()).permute(2, 0, 1).contiguous()
        out_hw = tuple(image.shape[1:])
        masks = []
        if rec.label != 0:
            for mp in rec.mask_paths:
                values = read_mask_values(mp)
                if values.shape != orig:
                    raise MaskError(
                        f"mask {mp} is {values.shape[0]}×{values.shape[1]} (H×W) but its image "
                        f"{rec.image_path} is {orig[0]}×{orig[1]}; masks must have the image's size"
                    )
                masks.append(resize_mask(values, out_hw, self.mask_interpolation))
        if masks:
            mask_t = torch.from_numpy(np.stack(masks)).contiguous()
        else:
            mask_t = torch.zeros((0, *out_hw), dtype=torch.uint8)
        item = (image, mask_t, orig)
        if self.cache:
            self._cache[index] = item
        return item

    def preload(self, progress: bool = True) -> "AnomalyDataset":
        """Decode every image once into the in-memory cache (turns ``cache`` on)."""
        self.cache = True
        todo = [i for i in range(len(self)) if i not in self._cache]
        for i in tqdm(todo, desc=f"caching {self.name}", disable=not progress or None, leave=False):
            self.load_raw(i)
        return self

    def validate(self, progress: bool = True, max_listed: int = 20) -> "AnomalyDataset":
        """Decode every image and mask once (kept when ``cache`` is on) so bad files fail now, before
        any training: one :class:`DataError` naming every bad file (the first ``max_listed``)."""
        bad: list[DataError] = []
        for i in tqdm(range(len(self)), desc=f"checking {self.name}", disable=not progress or None, leave=False):
            try:
                self.load_raw(i)
            except DataError as exc:
                bad.append(exc)
        if not bad:
            return self
        if len(bad) == 1:
            raise bad[0]
        lines = [f"  - {e}" for e in bad[:max_listed]] + ([f"  ... and {len(bad) - max_listed} more"]
                                                          if len(bad) > max_listed else [])
        kind = type(bad[0]) if all(type(e) is type(bad[0]) for e in bad) else DataError
        raise kind(f"{self.name}: {len(bad)} of {len(self)} files cannot be used:\n" + "\n".join(lines)) from bad[0]

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        rec = self.records[index]
        image_u8, masks, orig = self.load_raw(index)
        union = (masks > 0).any(dim=0, keepdim=True)  # K = 0 (a normal image) gives an all-False mask
        sample = {
            "image": to_float_image(image_u8, self.normalize),
            "mask": union.float(),
            "label": int(rec.label),
            "defect": rec.defect,
            "path": str(rec.image_path),
            "orig_size": torch.tensor(orig, dtype=torch.long),
            "has_mask": bool(rec.has_mask),
        }
        if self.multi_mask:
            sample["masks"] = masks
            sample["anomaly_kind"] = rec.anomaly_kind or NORMAL
        return sample
