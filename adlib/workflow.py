"""Your own images, end to end: :func:`fit` a method into a run folder, :func:`~adlib.run_dir.load` it,
:func:`~adlib.prediction.predict` new images with a calibrated threshold.

    run = adlib.fit("rd", "/data/my_parts", out="runs/parts", size=64, epochs=8)
    model = adlib.load("runs/parts")
    res = adlib.predict("runs/parts", "/data/new_images", out="pred")

``fit`` trains on a named dataset (``"mtd"``, ``"synthetic"`` + a category …) or a folder (MVTec
layout, or ``good/`` + one folder per defect, masks optional); keeps ``calibration_fraction`` of the
training normals out of training and sets the decision threshold at their ``quantile`` (no defect
examples needed); evaluates on the test split when it has both classes (the results JSON of
:func:`adlib.experiment.finish_experiment`); and writes the run folder (:mod:`adlib.run_dir`) with
figures and ``summary.html``. Nothing is written inside the data folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from adlib.data.splits import subset
from adlib.run_dir import (CHECKPOINT, DEFAULT_CALIBRATION_FRACTION, DEFAULT_PROFILE, DEFAULT_QUANTILE, FORMAT,
                           RESULTS, VERSION, spec_dict, write_manifest)


@dataclass
class FitRun:
    """What :func:`fit` returns: the trained model (in memory), its run folder and records."""

    model: torch.nn.Module
    dir: Path
    manifest: dict
    results: dict | None = None
    figures: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"]["value"])


# -- settings ------------------------------------------------------------------------------------
def parse_set(items) -> dict:
    """``["lr=0.001", "layers=[1, 2, 3]"]`` → ``{"lr": 0.001, "layers": [1, 2, 3]}``: values read as YAML
    scalars or lists (``true``, ``null``, ``1e-3``); ``make_config`` then checks keys and types."""
    import yaml

    out = {}
    for item in items or ():
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value (e.g. --set lr=0.001)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {item!r}: the value is not a YAML scalar or list ({exc})") from None
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        out[key] = value
    return out


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def profile_sections(name: str | None) -> dict:
    """The merged sections (``data``, ``method``, ``fit``, ``eval``) of a shared profile (its ``extends`` first)."""
    from adlib.reproduce.schema import SECTIONS, _merge, _shared_chain, shared_profiles

    sections = {sec: {} for sec in SECTIONS}
    if name is None:
        return sections
    file, shared = shared_profiles()
    for layer, where in _shared_chain(name, shared, file, "adlib fit --profile"):
        _merge(sections, {}, layer, where)
    return sections


def resolve_settings(method: str, *, profile: str | None = DEFAULT_PROFILE, size: int | None = None,
                     epochs: int | None = None, steps: int | None = None, batch_size: int | None = None,
                     config: dict | None = None) -> dict:
    """Profile, then explicit arguments: ``{config, image_size, epochs, steps, batch_size, eval}``; the
    config is checked by :func:`adlib.methods.make_config` (unknown keys, wrong types) before anything runs."""
    from adlib.methods import make_config

    if epochs is not None and steps is not None:
        raise ValueError("give epochs or steps, not both")
    sec = profile_sections(profile)
    cfg = {k: v for k, v in sec["method"].items() if k != "name"}
    cfg.update(config or {})
    make_config(method, **cfg)
    fit_sec = sec["fit"]
    if epochs is None and steps is None:
        epochs, steps = fit_sec.get("epochs"), fit_sec.get("steps")
        if epochs is None and steps is None:
            raise ValueError(f"profile {profile!r} sets neither epochs nor steps: give --epochs or --steps")
    image_size = size if size is not None else sec["data"].get("image_size")
    if image_size is None:
        raise ValueError("give the image size (--size N)")
    return {"config": cfg, "image_size": int(image_size), "epochs": epochs, "steps": steps,
            "batch_size": int(batch_size or fit_sec.get("batch_size") or 16), "eval": dict(sec["eval"]),
            "profile": profile}


# -- data -----------------------------------------------------------------------------------------
def data_folder(dataset: str, category: str | None, root=None) -> Path:
    """The folder nothing may be written into: a folder dataset itself, a named dataset's category folder."""
    from adlib.data.catalog import dataset_root, is_folder_dataset

    base = dataset_root(dataset, root)
    if category is not None and not is_folder_dataset(dataset):
        base = base / str(category)
    return Path(os.path.abspath(base))


def check_out(out: str | os.PathLike, *protected: Path, overwrite: bool = False) -> Path:
    """``out`` resolved; refused inside a data folder, or holding another run unless ``overwrite``."""
    out = Path(os.path.abspath(Path(out).expanduser()))
    for p in protected:
        if out == p or p in out.parents:
            raise ValueError(f"--out {out} is inside the data folder {p}: nothing is written there; "
                             "choose a folder outside it (e.g. ./runs/NAME)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} is not empty: choose a new folder, or pass --force (overwrite=True) "
                              "to replace the run there")
    return out


def hold_out(train, fraction: float, seed: int):
    """``(train part, calibration part)``: a seeded ``fraction`` of the training normals (at least 1 image,
    at least 1 left for training)."""
    n = len(train)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"calibration_fraction must be in (0, 1), got {fraction}")
    if n < 2:
        raise ValueError(f"{train.name}: {n} training image(s); at least 2 are needed (one is held out to "
                         "calibrate the threshold)")
    k = min(max(1, int(round(fraction * n))), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    cal, keep = sorted(perm[:k].tolist()), sorted(perm[k:].tolist())
    return subset(train, keep, f"{train.name} (training part)"), subset(train, cal, f"{train.name} (calibration)")


def quantile_threshold(scores, q: float) -> float:
    """The ``q`` quantile (linear interpolation, as ``torch.quantile``) of held-out normal scores."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    return float(torch.quantile(torch.as_tensor(scores, dtype=torch.float64).flatten(), q))


def _record_path(path, base: Path, portable) -> str:
    """An image's path relative to the data folder (``good/n3.png``), else :func:`adlib.paths.portable_path`."""
    try:
        return Path(os.path.abspath(path)).relative_to(base).as_posix()
    except ValueError:
        return portable(path)


# -- fit ------------------------------------------------------------------------------------------
def fit(method: str, data: str | os.PathLike, out: str | os.PathLike, *, category: str | None = None,
        size: int | None = None, epochs: int | None = None, steps: int | None = None, profile: str | None = DEFAULT_PROFILE,
        config: dict | None = None, batch_size: int | None = None, seed: int = 0, device="auto", root=None,
        quantile: float = DEFAULT_QUANTILE, calibration_fraction: float = DEFAULT_CALIBRATION_FRACTION,
        figures: bool = True, progress: bool = True, overwrite: bool = False) -> FitRun:
    """Train ``method`` on ``data`` (a dataset name with ``category``, or a folder) and write the run folder
    ``out`` (see :mod:`adlib.run_dir`). ``profile`` (``adlib/configs/profiles.yaml``) gives the defaults
    that ``size``, ``epochs``/``steps``, ``batch_size`` and ``config`` (method settings) override."""
    from adlib.data.catalog import dataset_root, is_folder_dataset, open_dataset
    from adlib.engine import evaluate_method, fit as engine_fit, save_checkpoint
    from adlib.engine.results import write_results
    from adlib.experiment import check_data, finish_experiment
    from adlib.methods import build
    from adlib.backbones.weights import file_sha256
    from adlib.paths import portable_path
    from adlib import __version__ as adlib_version

    t0 = time.perf_counter()
    data = str(data)
    if is_folder_dataset(data):
        data = os.path.abspath(os.path.expanduser(data))
    elif category is None:
        raise ValueError(f"dataset {data!r} needs --category (e.g. --category weave)")
    out = check_out(out, data_folder(data, category, root), overwrite=overwrite)
    s = resolve_settings(method, profile=profile, size=size, epochs=epochs, steps=steps, batch_size=batch_size,
                         config=config)
    torch.manual_seed(seed)
    model = build(method, **s["config"])
    spec = model.input_spec
    kw = dict(root=root, image_size=s["image_size"], normalize=spec, cache=True)
    train_all = open_dataset(data, category, "train", **kw)
    test = open_dataset(data, category, "test", **kw)
    labelled = set(test.labels.tolist()) == {0, 1}
    if labelled:
        check_data(train_all, test)
    else:
        for ds in (train_all, test):
            ds.validate(progress=False)
    train, calib = hold_out(train_all, calibration_fraction, seed)
    prepared = model.prepare_data(train, category=category, seed=seed)
    fit_kw = {"calibration_data": prepared.calibration if prepared.calibration is not None else calib}
    if prepared.val is not None:
        fit_kw["val_data"] = prepared.val
    fit_res = engine_fit(model, prepared.train, epochs=s["epochs"], steps=s["steps"], batch_size=s["batch_size"],
                         seed=seed, device=device, progress=progress, **fit_kw)
    ev_kw = {"batch_size": max(s["batch_size"], 16), "device": device,
             **{k: v for k, v in s["eval"].items() if k in ("aupro_mode", "fpr_limit")}}  # scores: the method's rule,
    # as adlib predict computes them (a profile's image_score override is a table protocol, not the model's)
    cal_ev = evaluate_method(model, calib, compute_metrics=False, progress=False, **ev_kw)
    threshold = quantile_threshold(cal_ev.scores, quantile)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (RESULTS, "summary.html"):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "figures", ignore_errors=True)  # overwrite: no figure of an earlier run stays
    ckpt = save_checkpoint(out / CHECKPOINT, model, step=fit_res.steps, history=fit_res.history)
    results, ev = None, None
    if labelled:
        ev = evaluate_method(model, test, progress=progress, return_maps=True, keep_curves=True, **ev_kw)
        results, _ = finish_experiment("fit", method, model, fit_res, ev, test=test, dataset=data,
                                       category=category, seed=seed, root=root, train=train,
                                       image_size=s["image_size"], epochs=s["epochs"], steps=s["steps"],
                                       batch_size=s["batch_size"], config=s["config"],
                                       total_s=round(time.perf_counter() - t0, 3),
                                       eval_kwargs={k: v for k, v in ev_kw.items() if k != "batch_size"})
        results.setdefault("extra", {})["threshold"] = {"value": threshold, "rule": f"quantile {quantile}"}
        write_results(results, out / RESULTS)
    else:
        ev = evaluate_method(model, test, progress=progress, return_maps=True, compute_metrics=False, **ev_kw)
    from adlib.engine.results import data_info

    man = {
        "format": FORMAT, "version": VERSION, "method": method, "config": model.config_dict(),
        "data": {**data_info(data if not is_folder_dataset(data) else Path(data).name, dataset_root(data, root),
                             getattr(test, "split_seed", None), train=train, calibration=calib, test=test),
                 "category": category, "labelled_test": labelled},
        "image_size": s["image_size"], "input_spec": spec_dict(spec), "weights": model.weights_info(),
        "fit": {"profile": profile, "epochs": s["epochs"], "steps": fit_res.steps, "batch_size": s["batch_size"],
                "seed": seed, "device": fit_res.device, "train_s": round(fit_res.train_s, 3)},
        "threshold": {"value": threshold, "method": "quantile", "quantile": quantile,
                      "rule": f"anomalous if score >= {threshold:.6g}",
                      "calibrated_on": f"{len(calib)} held-out normal training images (never trained on)",
                      "calibration_fraction": calibration_fraction,
                      "paths": [_record_path(r.image_path, data_folder(data, category, root), portable_path)
                                for r in calib.records],
                      "scores": [float(v) for v in cal_ev.scores]},
        "image_score": ev.protocol.get("image_score"),
        "files": {"checkpoint": CHECKPOINT, "checkpoint_sha256": file_sha256(ckpt),
                  "results": RESULTS if results is not None else None},
        "adlib_version": adlib_version, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    figs = {}
    if figures:
        from adlib.run_report import write_figures

        figs = write_figures(out, model, test, ev, man, results)
    model.run_manifest, model.run_dir = man, out  # the in-memory model predicts as the loaded one
    man["files"]["figures"] = {k: str(Path(v).relative_to(out)) for k, v in figs.items()}
    man["files"]["summary"] = "summary.html" if figures else None
    write_manifest(out, man)
    if figures:
        from adlib.run_report import write_summary

        figs["summary"] = write_summary(out, man, results)
    return FitRun(model=model, dir=out, manifest=man, results=results, figures=figs)
