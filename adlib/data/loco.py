"""MVTec LOCO AD: ``<obj>/{train,validation}/good``, ``<obj>/test/{good,logical_anomalies,structural_anomalies}``.

Ground truth is one PNG per defect instance, ``ground_truth/<type>/<stem>/NNN.png``, whose
non-zero pixel value names the defect type in ``<obj>/defects_config.json`` (Bergmann et al.,
IJCV 2022; official ``mvtec_loco_ad_evaluation``). Samples carry ``masks`` (K×H×W raw values,
one channel per file) and ``anomaly_kind``; the saturation areas of the sPRO metric come from
:class:`DefectsConfig`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import AnomalyDataset
from .errors import DataError, DatasetNotFoundError, MaskError
from .mvtec import category_dir
from .io import list_images
from .schema import NORMAL, Record

LOCO_CATEGORIES = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")
LOCO_SPLITS = ("train", "validation", "test")
ANOMALY_FOLDERS = {"logical_anomalies": "logical", "structural_anomalies": "structural"}
CONFIG_FILE = "defects_config.json"
_FIELDS = ("defect_name", "pixel_value", "saturation_threshold", "relative_saturation")


@dataclass(frozen=True)
class DefectConfig:
    """One entry of ``defects_config.json``: a defect type and its sPRO saturation rule."""

    defect_name: str
    pixel_value: int
    saturation_threshold: float
    relative_saturation: bool

    def saturation_area(self, region_area: float) -> float:
        """Pixels of overlap at which sPRO saturates (official rule):
        ``threshold·area`` if relative, else ``min(threshold, area)``."""
        if self.relative_saturation:
            return self.saturation_threshold * region_area
        return min(self.saturation_threshold, region_area)


@dataclass(frozen=True)
class DefectsConfig:
    """All defect types of one LOCO object, looked up by mask pixel value."""

    entries: tuple[DefectConfig, ...]
    path: Path | None = None

    def __post_init__(self):
        values = [e.pixel_value for e in self.entries]
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise DataError(f"{self.path or 'defects config'}: pixel value(s) {dup} used by more than one defect")

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __contains__(self, pixel_value: int) -> bool:
        return any(e.pixel_value == int(pixel_value) for e in self.entries)

    def get(self, pixel_value: int) -> DefectConfig:
        """The entry for ``pixel_value`` (:class:`KeyError` naming the file if unknown)."""
        for e in self.entries:
            if e.pixel_value == int(pixel_value):
                return e
        known = sorted(e.pixel_value for e in self.entries)
        raise KeyError(f"pixel value {int(pixel_value)} not in {self.path or 'defects config'} (known: {known})")

    def saturation_area(self, pixel_value: int, region_area: float) -> float:
        """Saturation area of a GT region of ``region_area`` pixels with value ``pixel_value``."""
        return self.get(pixel_value).saturation_area(region_area)

    @property
    def names(self) -> dict[int, str]:
        return {e.pixel_value: e.defect_name for e in self.entries}


def parse_defects_config(items, source: str | os.PathLike | None = None) -> DefectsConfig:
    """Validate the JSON list of ``{defect_name, pixel_value, saturation_threshold, relative_saturation}``."""
    where = str(source) if source is not None else "defects config"
    if not isinstance(items, list) or not items:
        raise DataError(f"{where}: expected a non-empty JSON list of defect entries, got {type(items).__name__}")
    entries = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(k not in item for k in _FIELDS):
            raise DataError(f"{where}: entry {i} must be an object with keys {list(_FIELDS)}, got {item!r}")
        value, thr, rel = item["pixel_value"], item["saturation_threshold"], item["relative_saturation"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 256:
            raise DataError(f"{where}: entry {i} ({item['defect_name']}): pixel_value must be an int in 1..255, got {value!r}")
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not thr > 0:
            raise DataError(f"{where}: entry {i} ({item['defect_name']}): saturation_threshold must be > 0, got {thr!r}")
        if not isinstance(rel, bool):
            raise DataError(f"{where}: entry {i} ({item['defect_name']}): relative_saturation must be true/false, got {rel!r}")
        entries.append(DefectConfig(str(item["defect_name"]), int(value), float(thr), rel))
    return DefectsConfig(tuple(entries), Path(source) if source is not None else None)


def load_defects_config(path: str | os.PathLike) -> DefectsConfig:
    """Read ``defects_config.json``; :class:`DataError` naming the file if missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"MVTec LOCO defects config not found: {path}")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"invalid JSON in {path}: {exc}") from exc
    return parse_defects_config(items, path)


def loco_records(root: str | os.PathLike, category: str, split: str = "train") -> list[Record]:
    """Records of one split of one LOCO object; anomalous test images get their GT channel files."""
    if split not in LOCO_SPLITS:
        raise ValueError(f"MVTec LOCO split must be one of {LOCO_SPLITS}, got {split!r}")
    cdir = category_dir(root, category, hint="MVTec LOCO AD layout")
    sdir = cdir / split
    if not sdir.is_dir():
        raise DatasetNotFoundError(f"split folder not found: {sdir}")
    folders = [NORMAL] + (list(ANOMALY_FOLDERS) if split == "test" else [])
    unknown = sorted(p.name for p in sdir.iterdir() if p.is_dir() and p.name not in folders)
    if unknown:
        raise DataError(f"unexpected folder(s) {unknown} in {sdir}; MVTec LOCO {split} holds only {folders}")
    records: list[Record] = []
    for folder in folders:
        ddir = sdir / folder
        if not ddir.is_dir():
            continue
        kind = ANOMALY_FOLDERS.get(folder, NORMAL)
        for img in list_images(ddir):
            masks: tuple[Path, ...] = ()
            if folder != NORMAL:
                gt = cdir / "ground_truth" / folder / img.stem
                masks = tuple(list_images(gt)) if gt.is_dir() else ()
                if not masks:
                    why = "is empty" if gt.is_dir() else "is missing"
                    raise MaskError(f"ground-truth folder {gt} for anomalous image {img} {why}")
            records.append(Record(image_path=img, label=int(folder != NORMAL), defect=folder,
                                  mask_paths=masks, anomaly_kind=kind))
    if not records:
        raise DatasetNotFoundError(f"split {split!r} of {cdir} holds no images (looked in {sdir}/{{{','.join(folders)}}}/)")
    return records


class MVTecLOCO(AnomalyDataset):
    """One split (train / validation / test) of one MVTec LOCO AD object, with multi-channel masks.

    ``defect`` is ``good`` / ``logical_anomalies`` / ``structural_anomalies``; ``masks`` holds one
    channel per GT file with its raw pixel value, checked against ``.defects_config`` on load.
    """

    def __init__(self, root: str | os.PathLike, category: str, split: str = "train", **kwargs):
        self.root = Path(root)
        self.category = category
        self.split = split
        records = loco_records(root, category, split)
        self.defects_config = load_defects_config(self.root / category / CONFIG_FILE)
        kwargs.setdefault("name", f"loco/{category}/{split}")
        kwargs["multi_mask"] = True
        super().__init__(records, **kwargs)

    def load_raw(self, index: int):
        cached = self.cache and index in self._cache
        item = super().load_raw(index)
        if not cached:
            rec = self.records[index]
            for channel, path in zip(item[1], rec.mask_paths):
                values = np.unique(channel.numpy())
                values = values[values > 0]
                if len(values) > 1:
                    raise MaskError(f"LOCO mask {path} holds several defect values {values.tolist()}; expected one")
                if len(values) and int(values[0]) not in self.defects_config:
                    raise MaskError(
                        f"LOCO mask {path} has pixel value {int(values[0])}, which is not in "
                        f"{self.defects_config.path} (known: {sorted(self.defects_config.names)})"
                    )
        return item

    def channel_defects(self, index: int) -> list[DefectConfig | None]:
        """The :class:`DefectConfig` of each ``masks`` channel of sample ``index`` (``[]`` for good
        images; ``None`` for a channel left empty by downscaling)."""
        _, masks, _ = self.load_raw(index)
        return [self.defects_config.get(int(c.max())) if c.any() else None for c in masks]
