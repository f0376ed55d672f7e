"""One experiment = build a method, train it on a category, evaluate it, write the results JSON.

The notebooks' last cells and :func:`run_experiment` finish a cell with the same
:func:`finish_experiment`, so a papermill run of a notebook and a scripted table cell produce the
same results files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePath

import torch

from adlib.data.catalog import dataset_key, dataset_root, open_dataset
from adlib.data.errors import DataError
from adlib.data.folder import is_safe_name
from adlib.engine import build_results, data_info, evaluate_method, fit, protocol_from, timings_from, write_results
from adlib.engine.env import set_threads
from adlib.methods import build


ALL_CATEGORY = "all"  # the category name of a folder dataset opened without one (the folder itself)


def category_name(category: str | None) -> str:
    """How results name a category (``None``: the whole folder of a path dataset, ``"all"``)."""
    return ALL_CATEGORY if category is None else str(category)


def results_path(output_dir: str | os.PathLike, paper: str, dataset: str, category: str | None, tag: str,
                 seed: int) -> Path:
    """``<output_dir>/<paper>/<dataset>/<category>/<tag>/seed<seed>/results.json``; a folder dataset is
    named by :func:`adlib.data.catalog.dataset_key` (never its path: nothing is written in a dataset folder).
    Each part must stay one folder level (no ``/``, ``..``): a ``ValueError`` names the one that does not."""
    parts = {"paper": str(paper), "dataset": dataset_key(dataset), "category": category_name(category),
             "tag": str(tag)}
    for key, value in parts.items():
        if not is_safe_name(value):
            raise ValueError(f"{key} {value!r} cannot name a results folder: use a plain name (no '/', '..' or "
                             "leading '.')")
    return Path(output_dir).joinpath(*map(_short, parts.values()), f"seed{seed}", "results.json")


def _short(name: str, limit: int = 200) -> str:
    """``name``, or for one too long for a file system (255 bytes) its start + 12 hex digits of the whole."""
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return name.encode("utf-8", "surrogateescape")[:limit - 13].decode("utf-8", "ignore") + "-" + digest


def check_data(train, test, *more) -> None:
    """Before any training: the test split has normal and anomalous images, and every image and mask of
    every split decodes (:meth:`~adlib.data.base.AnomalyDataset.validate`): one error naming the files."""
    labels = set(test.labels.tolist())
    if labels != {0, 1}:
        missing = "anomalous" if 1 not in labels else "normal"
        raise DataError(f"{test.name}: the test split has no {missing} images ({test.counts()}); image AUROC needs "
                        f"both. Add {'a folder per defect type beside good/' if missing == 'anomalous' else 'normal images'}"
                        " (a single pool keeps 20 % of good/ for testing)")
    errors = []
    for ds in (train, test, *more):
        try:
            ds.validate(progress=False)
        except DataError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        kind = type(errors[0]) if all(type(e) is type(errors[0]) for e in errors) else DataError
        raise kind("\n".join(str(e) for e in errors)) from errors[0]


def experiment_results(paper: str, method: str, model, fit_res, ev, *, dataset: str, category: str, seed: int,
                       root, train, test, image_size: int, epochs: int | None = None, steps: int | None = None,
                       batch_size: int | None = None, mask_interpolation: str = "nearest", config: dict | None = None,
                       total_s: float | None = None, variants: dict | None = None,
                       final_metrics: dict | None = None, mechanics: dict | None = None) -> dict:
    """The results dict of a trained and evaluated method (what notebooks and batch runs write); ``extra`` keeps
    each loss term's last value and its :meth:`~adlib.engine.state.FitResult.loss_curve` (window means, exact zeros);
    ``variants`` (from :func:`evaluate_variants`) go to ``extra["variants"]``; a method's
    ``calibration_record`` (EfficientAD / MHKD: the held-out set and quantiles of its map normalisation)
    to ``extra["calibration"]``. With checkpoint selection,
    ``extra`` also keeps ``val_history`` and ``final_metrics`` (the last step's model, when another was
    selected: :func:`evaluate_final`); ``mechanics`` (the method's :meth:`mechanics_check`) to ``extra["mechanics"]``."""
    protocol = protocol_from(fit_res, ev, image_size=image_size, mask_interpolation=mask_interpolation,
                             epochs=epochs, steps=steps, batch_size=batch_size)
    timings = timings_from(fit_res, ev, **({"total_s": total_s} if total_s is not None else {}))
    return build_results(paper, method, dataset, category_name(category), seed,
                         {**model.config_dict(), **(config or {})}, protocol, ev, None, model.weights_info(),
                         data_info(dataset, dataset_root(dataset, root), getattr(test, "split_seed", None),
                                   train=train, test=test), timings,
                         extra={"loss_final": {k: v[-1] for k, v in fit_res.history.items() if v},
                                "loss_curve": fit_res.loss_curve(),
                                **({"variants": variants} if variants else {}),
                                **({"calibration": model.calibration_record}
                                   if getattr(model, "calibration_record", None) else {}),
                                **({"val_history": fit_res.val_history} if fit_res.val_history else {}),
                                **({"final_metrics": final_metrics} if final_metrics is not None else {}),
                                **({"mechanics": mechanics} if mechanics else {}),
                                "image_scores": image_scores_record(ev)})


def image_scores_record(ev) -> dict:
    """Per test image: id (``defect/file name``, no machine path), label and image score — what a
    report needs to put a bootstrap interval on a comparison of two runs on the same images."""
    ids = [f"{d}/{PurePath(str(p)).name}" for d, p in zip(ev.defects, ev.paths)]
    return {"ids": ids, "labels": [int(v) for v in ev.labels.tolist()],
            "scores": [float(v) for v in ev.scores.float().tolist()]}


def finish_experiment(paper: str, method: str, model, fit_res, ev, *, test, dataset: str, category: str, seed: int,
                      root, train, image_size: int, epochs: int | None = None, steps: int | None = None,
                      batch_size: int | None = None, mask_interpolation: str = "nearest", config: dict | None = None,
                      total_s: float | None = None, variants: dict | None = None, eval_kwargs: dict | None = None,
                      output_dir=None, tag: str | None = None, final_metrics: dict | None = None,
                      mechanics: dict | None = None) -> tuple[dict, Path | None]:
    """What ends every cell, in a notebook or in :func:`run_experiment`: the evaluation variants of
    the trained model (:func:`evaluate_variants`, unless ``variants`` are given), the results dict
    (:func:`experiment_results`) and, with ``output_dir``, its file at :func:`results_path`.
    Returns ``(results, path or None)``."""
    if variants is None:
        variants = evaluate_variants(model, test, **(eval_kwargs or {}))
    results = experiment_results(paper, method, model, fit_res, ev, dataset=dataset, category=category, seed=seed,
                                 root=root, train=train, test=test, image_size=image_size, epochs=epochs, steps=steps,
                                 batch_size=batch_size, mask_interpolation=mask_interpolation, config=config,
                                 total_s=total_s, variants=variants, final_metrics=final_metrics, mechanics=mechanics)
    path = None
    if output_dir is not None:
        path = write_results(results, results_path(output_dir, paper, dataset, category, tag or method, seed))
    return results, path


def evaluate_variants(model, test, **eval_kwargs) -> dict:
    """Evaluate ``model.evaluation_variants()`` (config overrides of the same trained model, e.g.
    MRKD's Table 7 score maps) in one pass over ``test``:
    ``{name: {"overrides": {...}, "metrics": {metric: value}}}``."""
    variants = model.evaluation_variants()
    if not variants:
        return {}
    ev = evaluate_method(model, test, **{"progress": False, **eval_kwargs}, variants=variants, main=False)
    return variants_record(ev, variants)


def variants_record(ev, variants: dict) -> dict:
    """``{name: {"overrides", "metrics"}}`` of the variants an :class:`~adlib.engine.EvalResult` holds."""
    return {name: {"overrides": overrides, "metrics": ev.variants[name].summary()}
            for name, overrides in variants.items()}


def evaluate_final(model, fit_res, test, **eval_kwargs) -> dict | None:
    """``{metric: value}`` of the last step's model when checkpoint selection loaded another one
    (``fit_res.final_state``), else None; the selected state is back in ``model`` afterwards."""
    if fit_res.final_state is None:
        return None
    from adlib.engine.checkpoint import cpu_copy, load_method_state, method_state

    selected = cpu_copy(method_state(model))
    load_method_state(model, fit_res.final_state)
    try:
        return evaluate_method(model, test, **{"progress": False, **eval_kwargs}).summary()
    finally:
        load_method_state(model, selected)


def run_experiment(method: str, config: dict, *, paper: str, dataset: str, category: str, image_size: int,
                   epochs: int | None = None, steps: int | None = None, batch_size: int = 16, seed: int = 0,
                   root=None, device="auto", aupro_mode: str = "mvtec", mask_interpolation: str = "nearest",
                   output_dir=None, tag: str | None = None, progress: bool = True, fit_kwargs: dict | None = None,
                   model=None, return_objects: bool = False, ckpt_selection: str | None = None,
                   val_split: str | None = None, fpr_limit: float | None = None, image_score: str | None = None,
                   eval_every: int | None = None, selection_metric: str | None = None, threads: int | None = None):
    """Train ``method`` (built from ``config``, or the given ``model``) and evaluate it on the test split.

    ``ckpt_selection`` goes to :func:`adlib.engine.fit`, with the category's ``val_split`` (e.g. ``"validation"``)
    as ``val_data`` (``"best_on_test"``: the test split, knowingly — it inflates; the results then also keep
    the last step's metrics, ``extra.final_metrics``), validated every ``eval_every`` steps on
    ``selection_metric`` (``"image_auroc+pixel_auroc+aupro_fpr1"``: their mean); ``fpr_limit`` and ``image_score`` (``"max"``, ``"topk_mean:50"``: the rule that
    recomputes each score from its map) to :func:`adlib.engine.evaluate_method`. None: their defaults.
    ``threads``: torch's CPU thread count (None: ``$ADLIB_THREADS``, ``$OMP_NUM_THREADS``, else one fewer
    than the cores: :func:`adlib.engine.env.set_threads`), recorded in the results' ``env``.
    Returns the results dict (and ``(model, fit_result, eval_result)`` with ``return_objects``);
    writes it to :func:`results_path` when ``output_dir`` is given.
    """
    t0 = time.perf_counter()
    set_threads(threads)
    torch.manual_seed(seed)
    model = model if model is not None else build(method, **config)
    spec = model.input_spec  # the datasets normalise as the method asks
    train = open_dataset(dataset, category, "train", root=root, image_size=image_size, cache=True, normalize=spec)
    test = open_dataset(dataset, category, "test", root=root, image_size=image_size, normalize=spec,
                        mask_interpolation=mask_interpolation, cache=True)  # decoded once for all variants
    results_path(output_dir or ".", paper, dataset, category, tag or method, seed)  # a bad name fails before training
    check_data(train, test)
    data = model.prepare_data(train, category=category, seed=seed)
    fit_data = data.train
    fit_kwargs = dict(fit_kwargs or {})
    if data.val is not None:
        fit_kwargs.setdefault("val_data", data.val)
    if data.calibration is not None:
        fit_kwargs.setdefault("calibration_data", data.calibration)
    if ckpt_selection is not None:
        fit_kwargs["ckpt_selection"] = ckpt_selection
    if ckpt_selection == "best_on_test" and val_split is None:
        fit_kwargs["val_data"] = test
    if eval_every is not None:
        fit_kwargs["eval_every"] = eval_every
    if selection_metric is not None:
        fit_kwargs["selection_metric"] = selection_metric
    if val_split is not None:
        fit_kwargs["val_data"] = open_dataset(dataset, category, val_split, root=root, image_size=image_size,
                                              normalize=spec, mask_interpolation=mask_interpolation, cache=True)
        fit_kwargs["val_data"].validate(progress=False)
    fit_res = fit(model, fit_data, epochs=epochs, steps=steps, batch_size=batch_size, seed=seed, device=device,
                  progress=progress, **fit_kwargs)
    eval_kw = dict(batch_size=max(batch_size, 16), device=device, aupro_mode=aupro_mode)
    if fpr_limit is not None:
        eval_kw["fpr_limit"] = fpr_limit
    if image_score is not None:
        eval_kw["image_score"] = image_score
    variant_overrides = model.evaluation_variants()  # evaluated in the same pass over the test set
    ev = evaluate_method(model, test, progress=progress, variants=variant_overrides, **eval_kw)
    variants = variants_record(ev, variant_overrides)
    final_metrics = evaluate_final(model, fit_res, test, **eval_kw)
    mechanics = model.mechanics_check(test, category=category, seed=seed)
    results, _ = finish_experiment(paper, method, model, fit_res, ev, test=test, dataset=dataset, category=category,
                                   seed=seed, root=root, train=train, image_size=image_size, epochs=epochs, steps=steps,
                                   batch_size=batch_size, mask_interpolation=mask_interpolation, config=config,
                                   total_s=round(time.perf_counter() - t0, 3), variants=variants,
                                   output_dir=output_dir, tag=tag, final_metrics=final_metrics, mechanics=mechanics)
    return (results, (model, fit_res, ev)) if return_objects else results
