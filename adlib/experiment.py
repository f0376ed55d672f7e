"""One experiment = build a method, train it on a category, evaluate it, write the results JSON.

The notebooks' last cells and batch reproductions call the same :func:`run_experiment`, so a
papermill run of a notebook and a scripted table cell produce identical results files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from adlib.data.catalog import dataset_root, open_dataset
from adlib.engine.env import resolve_device
from adlib.engine import build_results, data_info, evaluate_method, fit, protocol_from, timings_from, write_results
from adlib.methods import build


def results_path(output_dir: str | os.PathLike, paper: str, dataset: str, category: str, tag: str, seed: int) -> Path:
    """``<output_dir>/<paper>/<dataset>/<category>/<tag>/seed<seed>/results.json``."""
    return Path(output_dir) / paper / dataset / category / tag / f"seed{seed}" / "results.json"


def experiment_results(paper: str, method: str, model, fit_res, ev, *, dataset: str, category: str, seed: int,
                       root, train, test, image_size: int, epochs: int | None = None, steps: int | None = None,
                       batch_size: int | None = None, mask_interpolation: str = "nearest", config: dict | None = None,
                       total_s: float | None = None, variants: dict | None = None) -> dict:
    """The results dict of a trained and evaluated method (what notebooks and batch runs write);
    ``variants`` (from :func:`evaluate_variants`) go to ``extra["variants"]``."""
    protocol = protocol_from(fit_res, ev, image_size=image_size, mask_interpolation=mask_interpolation,
                             epochs=epochs, steps=steps, batch_size=batch_size)
    timings = timings_from(fit_res, ev, **({"total_s": total_s} if total_s is not None else {}))
    return build_results(paper, method, dataset, category, seed, {**model.config_dict(), **(config or {})},
                         protocol, ev, None, model.weights_info(),
                         data_info(dataset, dataset_root(dataset, root), None, train=train, test=test), timings,
                         extra={"loss_final": {k: v[-1] for k, v in fit_res.history.items() if v},
                                **({"variants": variants} if variants else {})})


def training_data(model, train, *, category: str | None = None, seed: int = 0):
    """What the method trains on: ``model.training_data(train, ...)`` for methods that synthesise
    anomalies (MRKD's NSA), the plain training set otherwise."""
    hook = getattr(model, "training_data", None)
    return hook(train, category=category, seed=seed) if callable(hook) else train


def evaluate_variants(model, test, **eval_kwargs) -> dict:
    """Evaluate ``model.evaluation_variants()`` (config overrides of the same trained model, e.g.
    MRKD's Table 7 score maps): ``{name: {"overrides": {...}, "metrics": {metric: value}}}``."""
    out = {}
    for name, overrides in model.evaluation_variants().items():
        with model.override_config(**overrides):
            ev = evaluate_method(model, test, **{"progress": False, **eval_kwargs})
        out[name] = {"overrides": overrides, "metrics": ev.summary()}
    return out


def _fits_on_gpu(data, device, share: float = 0.25) -> bool:
    """Whether ``data`` (uint8 images) takes less than ``share`` of the GPU's free memory."""
    from adlib.engine.seed import device_cache_supported

    if not device_cache_supported(data):
        return False
    h, w = data.image_size  # (H, W) for every AnomalyDataset
    free, _ = torch.cuda.mem_get_info(device)
    return len(data) * 4 * h * w < share * free  # 3 channels + mask


def _image_score(spec):
    """``spec`` checked with :class:`adlib.methods.common.ImageScore`; an error while ``evaluate_method``
    cannot take it (TODO: drop once ``evaluate_method(image_score=...)`` lands)."""
    import inspect

    from adlib.methods.common import ImageScore

    rule = ImageScore.parse(spec)
    if "image_score" not in inspect.signature(evaluate_method).parameters:
        raise NotImplementedError(f"image_score={spec!r}: evaluate_method does not take an image score rule yet")
    return rule


def run_experiment(method: str, config: dict, *, paper: str, dataset: str, category: str, image_size: int,
                   epochs: int | None = None, steps: int | None = None, batch_size: int = 16, seed: int = 0,
                   root=None, device="auto", aupro_mode: str = "mvtec", mask_interpolation: str = "nearest",
                   output_dir=None, tag: str | None = None, progress: bool = True, fit_kwargs: dict | None = None,
                   model=None, return_objects: bool = False, ckpt_selection: str | None = None,
                   val_split: str | None = None, fpr_limit: float | None = None, image_score: str | None = None):
    """Train ``method`` (built from ``config``, or the given ``model``) and evaluate it on the test split.

    ``ckpt_selection`` goes to :func:`adlib.engine.fit`, with the category's ``val_split`` (e.g. ``"validation"``)
    as ``val_data``; ``fpr_limit`` to :func:`adlib.engine.evaluate_method`. ``image_score`` (``"max"``,
    ``"topk_mean:50"``) is validated and, when ``evaluate_method`` takes it, passed on. None: their defaults.
    Returns the results dict (and ``(model, fit_result, eval_result)`` with ``return_objects``);
    writes it to :func:`results_path` when ``output_dir`` is given.
    """
    t0 = time.perf_counter()
    train = open_dataset(dataset, category, "train", root=root, image_size=image_size, cache=True)
    test = open_dataset(dataset, category, "test", root=root, image_size=image_size,
                        mask_interpolation=mask_interpolation, cache=True)  # decoded once for all variants
    torch.manual_seed(seed)
    model = model if model is not None else build(method, **config)
    fit_data = training_data(model, train, category=category, seed=seed)
    fit_kwargs = dict(fit_kwargs or {})
    if ckpt_selection is not None:
        fit_kwargs["ckpt_selection"] = ckpt_selection
    if val_split is not None:
        fit_kwargs["val_data"] = open_dataset(dataset, category, val_split, root=root, image_size=image_size,
                                              mask_interpolation=mask_interpolation, cache=True)
    dev = resolve_device(device)
    if dev.type == "cuda":
        if getattr(fit_data, "keyed_draws", False):
            # synthesis runs on the CPU: feed a GPU with workers (draws are keyed, so results do not change)
            fit_kwargs.setdefault("num_workers", min(8, max((os.cpu_count() or 1) - 1, 0)))
        elif _fits_on_gpu(fit_data, dev):
            # plain images: decode once, keep the uint8 set on the GPU (no per-step CPU work)
            fit_kwargs.setdefault("on_gpu_cache", True)
    fit_res = fit(model, fit_data, epochs=epochs, steps=steps, batch_size=batch_size, seed=seed, device=device,
                  progress=progress, **fit_kwargs)
    eval_kw = dict(batch_size=max(batch_size, 16), device=device, aupro_mode=aupro_mode)
    if fpr_limit is not None:
        eval_kw["fpr_limit"] = fpr_limit
    if image_score is not None:
        eval_kw["image_score"] = _image_score(image_score)
    ev = evaluate_method(model, test, progress=progress, **eval_kw)
    variants = evaluate_variants(model, test, **eval_kw)
    results = experiment_results(paper, method, model, fit_res, ev, dataset=dataset, category=category, seed=seed,
                                 root=root, train=train, test=test, image_size=image_size, epochs=epochs, steps=steps,
                                 batch_size=batch_size, mask_interpolation=mask_interpolation, config=config,
                                 total_s=round(time.perf_counter() - t0, 3), variants=variants)
    if output_dir is not None:
        write_results(results, results_path(output_dir, paper, dataset, category, tag or method, seed))
    return (results, (model, fit_res, ev)) if return_objects else results
