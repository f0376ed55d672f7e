"""The held-out normal set EfficientAD's and MHKD's map normalisation is computed on (never trained on).

- MVTec LOCO (and the synthetic ``tray``): the dataset's own ``validation/good`` split.
- Any other dataset: 10 % of the training images, withheld from training, exactly as the code's
  ``random_split(train, [int(0.9·n), rest], Generator().manual_seed(42))`` over the sorted file list
  (:func:`adlib.data.splits.torch_random_split`).

``how``: ``"auto"`` (validation split when the reader has one, else the hold-out), ``"validation"``
or ``"holdout"``. The record says which, how many images and (hold-out) which indices.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Subset

from adlib.data.splits import subset, torch_random_split

__all__ = ["CALIBRATION_SPLITS", "calibration_split", "validation_split"]

CALIBRATION_SPLITS = ("auto", "validation", "holdout")


def validation_split(train):
    """The ``validation`` split beside a ``train`` split (an MVTec LOCO layout reader), else None."""
    root, category = getattr(train, "root", None), getattr(train, "category", None)
    if getattr(train, "split", None) != "train" or root is None or not (Path(root) / str(category) / "validation").is_dir():
        return None
    kw = {k: getattr(train, k) for k in ("image_size", "normalize", "mask_interpolation")}
    return type(train)(root, category, "validation", cache=True, **kw)


def calibration_split(train, how: str = "auto", fraction: float = 0.1, seed: int = 42):
    """``(training part, calibration set, record)`` (see the module docstring)."""
    if how not in CALIBRATION_SPLITS:
        raise ValueError(f"calibration must be one of {CALIBRATION_SPLITS}, got {how!r}")
    val = validation_split(train) if how in ("auto", "validation") else None
    if val is not None:
        return train, val, {"source": "the dataset's validation split (never trained on)", "n": len(val)}
    if how == "validation":
        raise ValueError(f"{getattr(train, 'name', 'the training set')}: no validation split beside it; "
                         "use calibration='holdout' (10 % of the training images)")
    keep, held = torch_random_split(len(train), fraction, seed)
    keep, held = sorted(keep), sorted(held)
    if hasattr(train, "records"):
        name = getattr(train, "name", "train")
        parts = subset(train, keep, f"{name} (training part)"), subset(train, held, f"{name} (calibration)")
    else:
        parts = Subset(train, keep), Subset(train, held)
    return (*parts, {"source": f"{fraction:.0%} of the training images held out (torch random_split, seed {seed}; "
                               "never trained on)", "n": len(held), "indices": held})
