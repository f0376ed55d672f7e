"""Errors raised for bad dataset input. Every message names the file or folder at fault."""

from __future__ import annotations


class DataError(Exception):
    """Base class: something is wrong with the data on disk."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset root, category or split folder does not exist (or holds no images)."""


class ImageReadError(DataError):
    """An image file cannot be decoded (corrupt, truncated, not an image)."""


class MaskError(DataError):
    """A ground-truth mask is missing, unreadable or does not match its image."""


class DownloadError(DataError):
    """A download, verification or extraction failed."""
