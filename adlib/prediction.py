"""Score new images with a trained run: ``adlib predict RUN IMAGES_OR_DIR --out DIR``.

Writes ``scores.csv`` (path, score, decision), ``threshold.json`` (the value, the rule and how it was
calibrated) and heatmap overlays (``overlays/*.png``, the highest scores first, at most
``max_overlays``). The threshold is the run's own (a quantile of held-out normal scores, set by
``adlib fit``) unless ``calibrate`` names a labelled folder (``good/`` + defect folders, or the
MVTec layout's ``test/``): then it is the score with the best F1 there.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from adlib.run_dir import DEFAULT_MAX_OVERLAYS


@dataclass
class PredictResult:
    """Scores and decisions of :func:`predict`, in the order of ``paths``."""

    paths: list[str]
    scores: np.ndarray
    decisions: list[str]
    threshold: float
    rule: str
    calibration: dict
    maps: torch.Tensor | None = field(default=None, repr=False)
    out: Path | None = None


def image_paths(images) -> list[Path]:
    """A file, a folder (every image under it, sorted) or a list of files."""
    from adlib.data.io import is_image_file

    if isinstance(images, (list, tuple)):
        paths = [Path(p).expanduser() for p in images]
    else:
        p = Path(images).expanduser()
        if p.is_dir():
            paths = sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".") and is_image_file(q))
            if not paths:
                raise FileNotFoundError(f"no images (png, jpg, bmp, tif …) found under {p}")
        else:
            paths = [p]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"image file(s) not found: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    return paths


def images_dataset(paths, image_size: int, spec, name: str = "images"):
    """The images as a dataset (label unknown: recorded as normal), decoded like the training images."""
    from adlib.data.base import AnomalyDataset
    from adlib.data.schema import Record

    ds = AnomalyDataset([Record(image_path=Path(p), label=0) for p in paths], image_size=image_size,
                        normalize=spec, cache=True, allow_missing_masks=True, name=name)
    return ds.validate(progress=False)


def labelled_dataset(folder, image_size: int, spec):
    """A labelled validation folder: the MVTec layout (its ``test/``) or ``good/`` + defect folders (all of it)."""
    from adlib.data.errors import DataError
    from adlib.data.folder import FolderDataset, MASK_DIRS
    from adlib.data.mvtec import MVTecAD

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"calibration folder not found: {folder}")
    kw = dict(image_size=image_size, normalize=spec, cache=True, allow_missing_masks=True)
    if (folder / "test").is_dir():
        ds = MVTecAD(folder.parent, folder.name, "test", **kw)
    else:
        mask_dir = next((d for d in MASK_DIRS if (folder / d).is_dir()), None)
        ds = FolderDataset(folder, "all", mask_dir=mask_dir, require_masks=False, **kw)
    labels = set(ds.labels.tolist())
    if labels != {0, 1}:
        raise DataError(f"calibration folder {folder} has only {'normal' if 0 in labels else 'anomalous'} images "
                        f"({ds.counts()}): the best-F1 threshold needs both (good/ + one folder per defect type)")
    return ds.validate(progress=False)


def best_f1_threshold(scores, labels) -> tuple[float, float]:
    """``(threshold, F1)``: among the observed scores, the one whose rule ``score >= threshold`` has the
    best F1 (the lowest such score on ties)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    best = (float("inf"), -1.0)
    for t in np.unique(s):
        pred = s >= t
        tp = int((pred & y).sum())
        f1 = 2 * tp / (int(pred.sum()) + int(y.sum())) if (pred.sum() + y.sum()) else 0.0
        if f1 > best[1]:
            best = (float(t), f1)
    return best


def _scores(model, ds, device, batch_size, return_maps=False, progress=False):
    from adlib.engine import evaluate_method

    return evaluate_method(model, ds, batch_size=batch_size, device=device, compute_metrics=False,
                           return_maps=return_maps, progress=progress)


def _overlay(image_u8, amap, threshold, lo, hi, title):
    from adlib.viz import overlay_heatmap

    return overlay_heatmap(image_u8, amap, norm="fixed", vmin=lo, vmax=hi, cmap="inferno",
                           pred=(amap >= threshold), title=title)


def predict(run, images, out=None, *, calibrate=None, max_overlays: int = DEFAULT_MAX_OVERLAYS,
            weights=None, batch_size: int = 16, device="auto", progress: bool = True) -> PredictResult:
    """Scores, decisions and (with ``out``) the files above for ``images`` (a file, a folder or a list).

    ``run``: a run folder or a model from :func:`adlib.load`. ``calibrate``: a labelled folder whose
    best-F1 score becomes the threshold (default: the run's held-out-normals quantile).
    ``max_overlays``: how many overlay PNGs at most (0: none). ``weights``: see :func:`adlib.load`.
    """
    from adlib.run_dir import load

    model = load(run, weights=weights) if not isinstance(run, torch.nn.Module) else run
    man = model.run_manifest
    paths = image_paths(images)
    out_dir = None
    if out is not None:
        out_dir = Path(os.path.abspath(Path(out).expanduser()))
        for src in {p.parent.resolve() for p in paths} | ({Path(images).expanduser().resolve()}
                                                          if not isinstance(images, (list, tuple))
                                                          and Path(images).is_dir() else set()):
            if out_dir == src or src in out_dir.parents:
                raise ValueError(f"--out {out_dir} is inside the images folder {src}: choose a folder outside it")
    size, spec = int(man["image_size"]), model.input_spec
    ds = images_dataset(paths, size, spec)
    ev = _scores(model, ds, device, batch_size, return_maps=True, progress=progress)
    scores = ev.scores.double().numpy()
    if calibrate is not None:
        cal = labelled_dataset(calibrate, size, spec)
        cal_ev = _scores(model, cal, device, batch_size)
        threshold, f1 = best_f1_threshold(cal_ev.scores.numpy(), cal.labels)
        calibration = {"method": "best_f1", "folder": str(Path(calibrate).expanduser()), "f1": f1,
                       "counts": cal.counts(), "n_images": len(cal)}
        how = f"best F1 ({f1:.3f}) on {len(cal)} labelled images in {calibrate}"
    else:
        thr = man["threshold"]
        threshold = float(thr["value"])
        calibration = {k: thr[k] for k in ("method", "quantile", "calibrated_on", "calibration_fraction") if k in thr}
        how = f"{thr.get('quantile')} quantile of {thr.get('calibrated_on', 'held-out normal images')}"
    rule = f"anomalous if score >= {threshold:.6g} ({how})"
    decisions = ["anomalous" if s >= threshold else "normal" for s in scores]
    res = PredictResult([str(p) for p in paths], scores, decisions, threshold, rule, calibration, ev.maps, out_dir)
    if out_dir is not None:
        write_outputs(res, ds, max_overlays, man)
    return res


def write_outputs(res: PredictResult, ds, max_overlays: int, manifest: dict) -> None:
    from adlib.fileio import atomic_write_text
    from adlib.viz import save_figure

    out = res.out
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "score", "decision"])
    for p, s, d in zip(res.paths, res.scores, res.decisions):
        w.writerow([p, repr(float(s)), d])
    atomic_write_text(out / "scores.csv", buf.getvalue())
    order = np.argsort(-res.scores, kind="stable")[:max(0, int(max_overlays))]
    written = []
    if len(order):
        maps = res.maps.float().cpu()
        lo, hi = float(maps[order].min()), max(float(maps[order].max()), res.threshold)
        for rank, i in enumerate(order.tolist()):
            img = ds.load_raw(i)[0].permute(1, 2, 0).numpy()
            src = Path(res.paths[i])
            title = f"{src.parent.name}/{src.name}\nscore {res.scores[i]:.4g} · {res.decisions[i]}"
            name = f"{rank:04d}_{src.parent.name}_{src.stem}.png"
            written.append(str(save_figure(_overlay(img, maps[i].numpy(), res.threshold, lo, hi, title),
                                           out / "overlays" / name).relative_to(out)))
    info = {"threshold": res.threshold, "rule": res.rule, "calibration": res.calibration,
            "run": {"method": manifest["method"], "image_size": manifest["image_size"]},
            "n_images": len(res.paths), "n_anomalous": res.decisions.count("anomalous"),
            "overlays": {"written": len(written), "of": len(res.paths), "max_overlays": int(max_overlays),
                         "order": "highest score first", "files": written,
                         "contour": "pixels whose map value >= the threshold", "cmap": "inferno"}}
    atomic_write_text(out / "threshold.json", json.dumps(info, indent=2, allow_nan=False) + "\n")
