"""The versioned results JSON of one run: build it, validate it, write it (atomically), read it back.

Schema (version 1), keys exactly::

    schema_version, paper, method, dataset, category, seed, config,
    protocol{image_size, mask_resolution, aupro_mode, fpr_limits, ckpt_selection, ...},
    metrics{name: {value, protocol, per_defect[, curve]}},   # value: number in [0, 1] or dict of them;
                                                            # null when protocol.unavailable says why
    per_defect{defect: {metric: value}}, weights{name, source, sha256}, data{name, root, split_seed, counts},
    timings{...}, env{python, torch, ..., adlib_version}, git_commit, created  [+ extra]
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from adlib.fileio import atomic_write_text
from adlib.metrics import AUPRO_MODES as _MODES, metrics_to_dict
from adlib.metrics.protocol import MetricResult

from .env import environment_report, git_commit as _git_commit, is_commit_sha

SCHEMA_VERSION = 1
TOP_KEYS = ("schema_version", "paper", "method", "dataset", "category", "seed", "config", "protocol", "metrics",
            "per_defect", "weights", "data", "timings", "env", "git_commit", "created")
PROTOCOL_KEYS = ("image_size", "mask_resolution", "aupro_mode", "fpr_limits", "ckpt_selection")
WEIGHTS_KEYS = ("name", "source", "sha256")
DATA_KEYS = ("name", "root", "split_seed", "counts")
ENV_KEYS = ("python", "torch", "torchvision", "timm", "numpy", "cuda", "cudnn", "device", "gpu_name", "cpu_count",
            "platform", "adlib_version")
RECORDED_CKPT_SELECTIONS = ("last", "best_val", "best_on_test", "pretrained")  # what a results file may record
AUPRO_MODES = tuple(_MODES) + ("none",)  # "none": a run without pixel metrics


def jsonable(obj):
    """Plain JSON types: tensors/numpy → numbers or lists, tuples → lists, Paths/dtypes → str, keys → str."""
    if isinstance(obj, MetricResult):
        return jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (Path, torch.dtype, torch.device)):
        return str(obj)
    return obj


def per_defect_table(metrics: dict) -> dict:
    """``{defect: {metric: value}}`` from ``{name: MetricResult}`` (or their dict form)."""
    out: dict = {}
    for name, res in metrics.items():
        pd = res.per_defect if isinstance(res, MetricResult) else (res.get("per_defect") or {} if isinstance(res, dict) else {})
        for defect, value in pd.items():
            out.setdefault(str(defect), {})[name] = value
    return out


def build_results(paper: str, method: str, dataset: str, category: str, seed: int, config: dict, protocol: dict,
                  metrics, per_defect: dict | None, weights: dict, data: dict, timings: dict, extra: dict | None = None,
                  *, env: dict | None = None, git_commit: str | None | bool = True, created: str | None = None,
                  with_curves: bool = False) -> dict:
    """Assemble a results dict. ``metrics``: ``{name: MetricResult}``, an ``EvalResult`` or the dict form;
    ``per_defect=None`` derives it from the metrics; ``env`` defaults to :func:`environment_report` for
    ``protocol["device"]``; ``git_commit=True`` asks git (None when not a checkout)."""
    if hasattr(metrics, "metrics") and hasattr(metrics, "scores"):  # an EvalResult
        metrics = metrics.metrics
    if per_defect is None:
        per_defect = per_defect_table(metrics)
    if any(isinstance(v, MetricResult) for v in metrics.values()):
        metrics = metrics_to_dict({k: v for k, v in metrics.items()}, with_curves=with_curves)
    d = {
        "schema_version": SCHEMA_VERSION, "paper": paper, "method": method, "dataset": dataset, "category": category,
        "seed": seed, "config": config, "protocol": protocol, "metrics": metrics, "per_defect": per_defect,
        "weights": weights, "data": data, "timings": timings,
        "env": env if env is not None else environment_report(protocol.get("device") if isinstance(protocol, dict) else None),
        "git_commit": _git_commit() if git_commit is True else (git_commit or None),
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if extra is not None:
        d["extra"] = extra
    return jsonable(d)


def protocol_from(fit=None, evaluation=None, **overrides) -> dict:
    """The ``protocol`` section from a ``FitResult`` and an ``EvalResult`` (``ckpt_selection`` is
    ``"pretrained"`` without a fit); keyword overrides win (e.g. ``image_size=256``)."""
    p: dict = {}
    if evaluation is not None:
        p.update(evaluation.protocol)
    p["ckpt_selection"] = fit.ckpt_selection if fit is not None else "pretrained"
    if fit is not None:
        p["training"] = fit.protocol
    p.update(overrides)
    return p


def timings_from(fit=None, evaluation=None, **more) -> dict:
    t = dict(fit.timings) if fit is not None else {}
    if evaluation is not None:
        t.update({f"eval_{k}": v for k, v in evaluation.timings.items()})
    t.update(more)
    return t


def data_info(name: str, root=None, split_seed: int | None = None, **splits) -> dict:
    """``data`` section; ``splits``: datasets by split name (their ``counts()`` or length are recorded)."""
    counts = {k: (ds.counts() if hasattr(ds, "counts") else {"n": len(ds)}) for k, ds in splits.items()}
    from adlib.paths import portable_path

    return {"name": name, "root": portable_path(root), "split_seed": split_seed, "counts": counts}


# -- validation ----------------------------------------------------------------------------------
def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_values(v, where: str, problems: list) -> None:
    if isinstance(v, dict):
        if not v:
            problems.append(f"{where}: empty dict")
        for k, x in v.items():
            _check_values(x, f"{where}.{k}", problems)
    elif not _num(v) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
        problems.append(f"{where}: {v!r} is not a number in [0, 1]")


def _nonfinite(obj, where: str, problems: list) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        problems.append(f"{where}: {obj} is not valid JSON")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _nonfinite(v, f"{where}.{k}", problems)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _nonfinite(v, f"{where}[{i}]", problems)


def _section(d: dict, key: str, required: tuple, problems: list) -> dict:
    sec = d.get(key)
    if not isinstance(sec, dict):
        problems.append(f"{key}: must be a dict, got {type(sec).__name__}")
        return {}
    problems += [f"{key}.{k}: missing" for k in required if k not in sec]
    return sec


def validate_results(d: dict) -> dict:
    """Check a results dict against schema version 1; raises ``ValueError`` listing every problem."""
    if not isinstance(d, dict):
        raise ValueError(f"results must be a dict, got {type(d).__name__}")
    problems: list[str] = [f"{k}: missing" for k in TOP_KEYS if k not in d]
    problems += [f"{k}: unknown top-level key" for k in d if k not in TOP_KEYS + ("extra",)]
    if "schema_version" in d and d["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version: {d['schema_version']!r}, expected {SCHEMA_VERSION}")
    for k in ("paper", "method", "dataset", "category"):
        if k in d and (not isinstance(d[k], str) or not d[k]):
            problems.append(f"{k}: must be a non-empty string, got {d[k]!r}")
    if "seed" in d and (not isinstance(d["seed"], int) or isinstance(d["seed"], bool)):
        problems.append(f"seed: must be an int, got {d['seed']!r}")
    for k in ("config", "timings"):
        if k in d and not isinstance(d[k], dict):
            problems.append(f"{k}: must be a dict")
    for k, v in (d.get("timings") or {}).items() if isinstance(d.get("timings"), dict) else ():
        if v is not None and (not _num(v) or v < 0):
            problems.append(f"timings.{k}: {v!r} is not a non-negative number")
    p = _section(d, "protocol", PROTOCOL_KEYS, problems)
    if p.get("ckpt_selection", RECORDED_CKPT_SELECTIONS[0]) not in RECORDED_CKPT_SELECTIONS:
        problems.append(f"protocol.ckpt_selection: {p['ckpt_selection']!r} not one of {RECORDED_CKPT_SELECTIONS}")
    if p.get("aupro_mode", "mvtec") not in AUPRO_MODES:
        problems.append(f"protocol.aupro_mode: {p['aupro_mode']!r} not one of {AUPRO_MODES}")
    if "fpr_limits" in p and (not isinstance(p["fpr_limits"], list) or not all(_num(x) and 0 < x <= 1 for x in p["fpr_limits"])):
        problems.append(f"protocol.fpr_limits: {p['fpr_limits']!r} is not a list of numbers in (0, 1]")
    metrics = d.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        problems.append("metrics: must be a non-empty dict")
    else:
        for name, entry in metrics.items():
            if isinstance(entry, dict) and entry.get("value") is None and "value" in entry:
                why = (entry.get("protocol") or {}).get("unavailable") if isinstance(entry.get("protocol"), dict) else None
                if not isinstance(why, str) or not why:
                    problems.append(f"metrics.{name}.value: null needs the reason in metrics.{name}.protocol.unavailable")
            elif isinstance(entry, dict) and "value" in entry:
                _check_values(entry["value"], f"metrics.{name}.value", problems)
                for defect, v in (entry.get("per_defect") or {}).items():
                    _check_values(v, f"metrics.{name}.per_defect.{defect}", problems)
                if not isinstance(entry.get("protocol", {}), dict):
                    problems.append(f"metrics.{name}.protocol: must be a dict")
            else:
                _check_values(entry, f"metrics.{name}", problems)
    if not isinstance(d.get("per_defect", {}), dict):
        problems.append("per_defect: must be a dict")
    else:
        for defect, row in d.get("per_defect", {}).items():
            _check_values(row, f"per_defect.{defect}", problems)
    w = _section(d, "weights", WEIGHTS_KEYS, problems)
    if "source" in w and (not isinstance(w["source"], str) or not w["source"].strip()):
        problems.append("weights.source: must be a non-empty string (where the weights came from)")
    sha = w.get("sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        problems.append(f"weights.sha256: {sha!r} is not 64 lowercase hex digits (or null)")
    data = _section(d, "data", DATA_KEYS, problems)
    if "counts" in data and not isinstance(data["counts"], dict):
        problems.append("data.counts: must be a dict")
    _section(d, "env", ENV_KEYS, problems)
    gc = d.get("git_commit")
    if gc is not None and not is_commit_sha(gc):
        problems.append(f"git_commit: {gc!r} is not a 40-digit hex sha (or null)")
    try:
        datetime.fromisoformat(d.get("created", ""))
    except (TypeError, ValueError):
        problems.append(f"created: {d.get('created')!r} is not an ISO date-time")
    _nonfinite(d, "results", problems)
    try:
        json.dumps(d, allow_nan=True)
    except (TypeError, ValueError) as err:
        problems.append(f"not JSON-serialisable: {err} (build it with build_results / jsonable)")
    if problems:
        raise ValueError("invalid results:\n  - " + "\n  - ".join(problems))
    return d


def write_results(d: dict, path: str | os.PathLike) -> Path:
    """Validate, then write JSON atomically (temporary file + rename)."""
    validate_results(d)
    return atomic_write_text(path, json.dumps(d, indent=2, allow_nan=False) + "\n")


def read_results(path: str | os.PathLike) -> dict:
    """Load and validate a results JSON."""
    with open(path, encoding="utf-8") as f:
        return validate_results(json.load(f))
