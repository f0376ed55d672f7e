"""Datasets (one sample schema), readers and converters for real datasets, synthetic data.

Readers: :class:`~adlib.data.mvtec.MVTecAD` (also synthetic, prepared MTD, converted VisA),
:class:`~adlib.data.loco.MVTecLOCO`, :class:`~adlib.data.btad.BTAD`, :class:`~adlib.data.dagm.DAGM`,
:class:`~adlib.data.folder.FolderDataset`. See :mod:`adlib.data.schema` for the sample keys.
"""

from .base import AnomalyDataset, shared_decoding
from .errors import DataError, DatasetNotFoundError, ImageReadError, MaskError
from .schema import SAMPLE_KEYS, Record, collate

__all__ = ["AnomalyDataset", "DataError", "DatasetNotFoundError", "ImageReadError", "MaskError",
           "Record", "SAMPLE_KEYS", "collate", "shared_decoding"]
