"""The run environment: device / precision / memory-format choices and the report stored with results."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import torch

AMP_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` → ``cuda`` when available, else ``cpu``; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available (use device='auto' or 'cpu')")
    return dev


def resolve_amp(amp, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``"auto"`` → bf16 on CUDA, off on CPU; ``True`` = bf16; ``False``/``None`` = off;
    ``"bf16"``/``"fp16"`` explicit (fp16 training uses a GradScaler)."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp is None or amp is False:
        return None
    if amp is True:
        return torch.bfloat16
    if isinstance(amp, torch.dtype) and amp in (torch.bfloat16, torch.float16):
        return amp
    if isinstance(amp, str) and amp.lower() in AMP_DTYPES:
        return AMP_DTYPES[amp.lower()]
    raise ValueError(f"amp must be 'auto', True, False, 'bf16' or 'fp16', got {amp!r}")


def resolve_channels_last(channels_last, device: torch.device) -> bool:
    """``"auto"`` → on for CUDA, off for CPU; booleans as given."""
    if channels_last == "auto":
        return device.type == "cuda"
    if isinstance(channels_last, bool):
        return channels_last
    raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")


def amp_name(dtype: torch.dtype | None) -> str | None:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for the device, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


IMAGE_KEYS = ("image", "aug_image")  # batch entries the networks see (channels-last on GPU)


def move_batch(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    """Tensors (and lists of tensors, e.g. LOCO ``masks``) to ``device``; ``image`` channels-last if asked."""
    out = {}
    nb = device.type == "cuda"
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=nb)
        elif isinstance(v, list) and v and isinstance(v[0], torch.Tensor):
            v = [t.to(device, non_blocking=nb) for t in v]
        out[k] = v
    for key in IMAGE_KEYS:
        img = out.get(key)
        if channels_last and isinstance(img, torch.Tensor) and img.ndim == 4:
            out[key] = img.contiguous(memory_format=torch.channels_last)
    return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def is_commit_sha(value) -> bool:
    """A full git commit id: 40 lower-case hex digits."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40}", value) is not None


def _rev_parse(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# HEAD of adlib's checkout when this process imported adlib.engine: the code it runs. Read at write time instead, a
# long-lived worker (a reproduce queue, a pool) whose checkout gained commits meanwhile named code it never loaded.
_IMPORT_COMMIT = _rev_parse(_PACKAGE_ROOT)


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the code this process runs: ``git rev-parse HEAD`` of adlib's checkout when ``adlib.engine``
    was imported (so results name the code that trained them, also when commits land while a worker runs), else
    None; with ``path``, HEAD of the checkout holding ``path`` now.

    ``$ADLIB_GIT_COMMIT`` (a 40-digit sha) stands in for a copy of a checkout without its ``.git``
    (a tree shipped to a cluster node or a GPU machine); anything else there is an error.
    """
    env = os.environ.get("ADLIB_GIT_COMMIT")
    if env:
        if not is_commit_sha(env.lower()):
            raise ValueError(f"ADLIB_GIT_COMMIT={env!r} is not a 40-digit hex sha")
        return env.lower()
    if path is None:
        return _IMPORT_COMMIT
    return _rev_parse(Path(path))


THREADS_ENV = "ADLIB_THREADS"
_threads_source: str | None = None  # how set_threads chose the count (recorded with every result)


def default_threads() -> int:
    """One thread fewer than the cores this process may use (at least one): a thread per core with
    another busy process on one of them made a 12-step MRKD fit on 2 cores 45x slower than 1 thread
    (55 s vs 1.2 s, OpenMP threads waiting on the busy core), while one thread fewer costs at most 1/n."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def set_threads(threads: int | None = None, source: str | None = None) -> int:
    """Set torch's CPU thread count deliberately: ``threads``, else ``$ADLIB_THREADS``, else
    ``$OMP_NUM_THREADS``, else :func:`default_threads`. Returns the count; how it was chosen goes
    to :func:`environment_report` (``torch_threads_source``)."""
    global _threads_source
    for value, origin in ((threads, source or "argument"), (os.environ.get(THREADS_ENV), THREADS_ENV),
                          (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS")):
        if value not in (None, ""):
            n = int(value)
            if n < 1:
                raise ValueError(f"the thread count ({origin}) must be >= 1, got {value!r}")
            break
    else:
        n, origin = default_threads(), "default (cores - 1)"
    torch.set_num_threads(n)
    _threads_source = origin
    return n


def ensure_threads() -> int:
    """:func:`set_threads` once per process, unless something already did (``fit`` and
    ``evaluate_method`` call this, so notebooks get a deliberate count too; ``ADLIB_THREADS`` chooses)."""
    return torch.get_num_threads() if _threads_source is not None else set_threads()


def environment_report(device: str | torch.device | None = None) -> dict:
    """Versions and hardware for the results JSON (``env``); ``device`` = the one the run used."""
    from adlib import __version__

    dev = resolve_device(device) if device is None or device == "auto" else torch.device(device)
    gpu = None
    if dev.type == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(dev.index if dev.index is not None else torch.cuda.current_device())
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "timm": _version("timm"),
        "numpy": _version("numpy"),
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "device": str(dev),
        "gpu_name": gpu,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "adlib_version": __version__,
        # what decides CPU float rounding: the same code gives other numbers on another CPU or thread count
        "cpu_model": cpu_model(),
        "cpu_vendor": cpu_vendor(),
        "cpu_capability": _cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch_threads_source": _threads_source or "torch default",
    }


def cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` of ``/proc/cpuinfo`` (Linux), e.g. ``"model name"``, ``"vendor_id"``; else None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str | None:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    return cpuinfo_field("model name") or platform.processor() or None


def cpu_vendor() -> str | None:
    """The processor's vendor (``GenuineIntel``, ``AuthenticAMD``; ``/proc/cpuinfo``), None where unknown."""
    return cpuinfo_field("vendor_id")


def cpu_signature() -> str:
    """``<vendor>/<torch's CPU capability>``, e.g. ``AuthenticAMD/AVX512``: float kernels, and so a short CPU run's
    numbers, differ between signatures."""
    return f"{cpu_vendor() or 'unknown'}/{_cpu_capability()}"


def _cpu_capability() -> str | None:
    """The SIMD level torch's CPU kernels use (e.g. ``AVX512``, ``AVX2``)."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        return None
