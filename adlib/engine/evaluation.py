"""Evaluate a method on a dataset: ``predict`` over every image, then every metric with its protocol."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from adlib.methods.base import Prediction
from adlib.methods.common.maps import ImageScore
from adlib.metrics import evaluate, evaluate_loco, metrics_to_dict
from adlib.metrics.protocol import MetricResult
from adlib.metrics.spro import SPRO_FPR_LIMITS

from .env import amp_name, autocast, ensure_threads, move_batch, resolve_amp, resolve_channels_last, resolve_device, synchronize
from .batches import make_loader
from .heartbeat import Heartbeat


@dataclass
class EvalResult:
    """Metrics (``{name: MetricResult}``) plus what they were computed from.

    ``scores``/``labels`` are CPU tensors in dataset order; ``maps`` (N×H×W float32) and ``masks``
    are kept only with ``return_maps=True`` (on the evaluation device: GPU maps stay on the GPU).
    """

    metrics: dict[str, MetricResult]
    scores: torch.Tensor
    labels: torch.Tensor
    defects: list[str]
    paths: list[str]
    timings: dict
    protocol: dict
    counts: dict
    maps: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    anomaly_kinds: list[str] | None = field(default=None, repr=False)
    variants: dict = field(default_factory=dict, repr=False)  # {name: EvalResult} of the same pass

    def __getitem__(self, name: str):
        return self.metrics[name].value

    def summary(self) -> dict:
        """``{metric: value}``."""
        return {k: v.value for k, v in self.metrics.items()}

    def metrics_dict(self, with_curves: bool = False) -> dict:
        """``{name: {value, protocol, per_defect[, curve]}}`` for the results JSON."""
        return metrics_to_dict(self.metrics, with_curves)

    def per_defect(self) -> dict:
        """``{defect: {metric: value}}`` (each defect type together with all normal images)."""
        out: dict = {}
        for name, res in self.metrics.items():
            for defect, value in res.per_defect.items():
                out.setdefault(defect, {})[name] = value
        return out


def _prepare(method, device, amp, channels_last):
    ensure_threads()
    dev = resolve_device(device)
    dtype = resolve_amp(amp, dev)
    cl = resolve_channels_last(channels_last, dev)
    method.to(dev)
    if cl:
        method.to(memory_format=torch.channels_last)
    return dev, dtype, cl


def image_score_record(method, image_score=None) -> tuple[ImageScore | None, str]:
    """The image-score rule to apply (None: the method's own scores) and what the protocol records:
    ``str(rule)`` of the override, else of ``method.image_score_rule`` (``"method"`` when it has none)."""
    if image_score is not None:
        rule = ImageScore.parse(image_score)
        return rule, str(rule)
    own = getattr(method, "image_score_rule", None)
    return None, str(own) if own is not None else "method"


def _maps_and_scores(out, method) -> tuple[torch.Tensor, torch.Tensor]:
    """``predict``'s output as ``(maps, scores)``: a :class:`Prediction` or a plain pair."""
    if isinstance(out, Prediction):
        return out.maps, out.scores
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return out[0], out[1]
    raise TypeError(f"{type(method).__name__}.predict must return a Prediction or a (maps, scores) pair, "
                    f"got {type(out).__name__}")


def all_metrics(maps, scores, labels, masks, defects, has_mask, *, aupro_mode: str = "mvtec", fpr_limit: float = 0.3,
                keep_curves: bool = False, defects_config=None, anomaly_kinds=None, loco_masks=None, orig_sizes=None,
                spro_fpr_limits=SPRO_FPR_LIMITS, extra_fpr_limits=()) -> dict[str, MetricResult]:
    """Every metric of a test set (:func:`adlib.metrics.evaluate`, AU-PRO also at ``extra_fpr_limits``); with a LOCO ``defects_config`` and
    the images' ``anomaly_kinds`` also ``loco_image_auroc`` (logical / structural / mean) and ``spro``
    (:func:`adlib.metrics.evaluate_loco` on ``loco_masks``, one K×H×W stack of mask values per image)."""
    maps = torch.as_tensor(maps)
    metrics = evaluate(maps, scores, labels, masks, defects, has_mask, aupro_mode=aupro_mode, fpr_limit=fpr_limit,
                       device=maps.device, keep_curves=keep_curves, extra_fpr_limits=extra_fpr_limits)
    if anomaly_kinds and defects_config is not None:
        loco = evaluate_loco(maps, scores, loco_masks, anomaly_kinds, defects_config, orig_sizes=orig_sizes,
                             fpr_limits=spro_fpr_limits)
        metrics["loco_image_auroc"] = dataclasses.replace(loco["image_auroc"], name="loco_image_auroc")
        metrics["spro"] = loco["spro"]
    return metrics


class _VariantMaps:
    """One variant's maps and scores as the pass collects them, with its image-score rule and AU-PRO limits."""

    def __init__(self, method, overrides: dict | None, image_score, extra_fpr_limits):
        with _as_variant(method, overrides):
            self.rule, self.rule_name = image_score_record(method, image_score)
            self.extra_fpr_limits = tuple(getattr(method, "extra_fpr_limits", ())) if extra_fpr_limits is None \
                else tuple(extra_fpr_limits)
        self.maps: list[torch.Tensor] = []
        self.scores: list[torch.Tensor] = []

    def add(self, out, method, img_hw: tuple[int, int], size) -> None:
        """Check one batch's prediction (B×1×H×W at the input resolution), rescore and resize as asked."""
        m, s = _maps_and_scores(out, method)
        m = m.float()
        if m.ndim == 3:
            m = m[:, None]
        if m.ndim != 4 or m.shape[1] != 1 or tuple(m.shape[-2:]) != img_hw:
            raise ValueError(f"{type(method).__name__}.predict must return maps B×1×H×W at the input "
                             f"resolution {img_hw}, got {tuple(m.shape)}")
        if self.rule is not None:
            s = self.rule(m)
        if size is not None and size != img_hw:
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        self.maps.append(m[:, 0])
        self.scores.append(s.float().flatten())


def _as_variant(method, overrides: dict | None):
    """The model as it is (``None``) or under a variant's config overrides."""
    import contextlib

    return contextlib.nullcontext(method) if overrides is None else method.override_config(**overrides)


MAIN = "<main>"  # the model as it is, in predict_variants' dict when variants share its pass


def _predict_all(method, batch: dict, variants: dict) -> dict:
    """Every variant's prediction for one batch (key ``None``: the model as it is): ``predict`` alone,
    else one :meth:`~adlib.methods.base.AnomalyMethod.predict_variants` call with the model as :data:`MAIN`."""
    if list(variants) == [None]:
        return {None: method.predict(batch)}
    named = {(MAIN if k is None else k): (v or {}) for k, v in variants.items()}
    out = method.predict_variants(batch, named)
    return {(None if k == MAIN else k): out[k] for k in named}


@torch.no_grad()
def evaluate_method(method, dataset, *, batch_size: int = 16, device="auto", amp="auto", channels_last="auto",
                    aupro_mode: str = "mvtec", fpr_limit: float = 0.3, progress: bool = True,
                    return_maps: bool = False, map_size: int | tuple[int, int] | None = None, num_workers: int = 0,
                    compute_metrics: bool = True, keep_curves: bool = False, spro_fpr_limits=SPRO_FPR_LIMITS,
                    image_score=None, extra_fpr_limits=None, variants: dict[str, dict] | None = None,
                    main: bool = True) -> EvalResult:
    """Run ``method.predict`` over ``dataset`` (eval mode, no grad) and compute every metric.

    Args:
        device, amp, channels_last: as :func:`adlib.engine.fit` ("auto": CUDA with bf16 autocast
            and channels-last if available). Maps are cast to float32 whatever the autocast dtype;
            methods should compute their maps in float32 (cosine similarity is float32 under autocast).
        aupro_mode, fpr_limit: the AU-PRO protocol (see :func:`adlib.metrics.evaluate`).
        map_size: evaluate at another resolution: maps are resized bilinearly and masks by nearest
            neighbour (default: the dataset's image size).
        return_maps: keep the maps and masks in the result (for figures and widgets).
        compute_metrics: False to only collect scores/maps (e.g. a normal-only set).
        image_score: None = the scores ``predict`` returns (the method's rule); else a rule
            (``"max"``, ``"topk_mean:50"``, an :class:`~adlib.methods.common.ImageScore`) that
            recomputes each image's score from its map, at the map's own resolution (before any
            ``map_size`` resize). ``protocol["image_score"]`` records the rule used.
        extra_fpr_limits: AU-PRO also at these FPR limits (metrics ``aupro_fpr<limit>``, same maps);
            None = the method's ``extra_fpr_limits`` attribute (DM-GRD: ``(1.0,)``, its "PRO"), else none.
        variants: ``{name: config overrides}`` evaluated in the same pass over the data
            (:meth:`~adlib.methods.base.AnomalyMethod.predict_variants`; e.g. ``method.evaluation_variants()``),
            each through the same metrics: the result's ``variants`` ``{name: EvalResult}``.
        main: False to evaluate only the ``variants`` (the result then has no maps, scores nor metrics
            of its own, only the data's labels, counts and protocol).

    Datasets whose samples carry ``masks``/``anomaly_kind`` and that have ``defects_config``
    (MVTec LOCO) also get ``loco_image_auroc`` (logical/structural/mean) and ``spro``.
    """
    if MAIN in (variants or {}):
        raise ValueError(f"{MAIN!r} names the model itself; give the variant another name")
    wanted = {**({None: None} if main else {}), **(variants or {})}
    dev, dtype, cl = _prepare(method, device, amp, channels_last)
    collect = {k: _VariantMaps(method, ov, image_score, extra_fpr_limits) for k, ov in wanted.items()}
    was_training = method.training
    method.eval()
    size = (map_size, map_size) if isinstance(map_size, int) else (tuple(map_size) if map_size else None)
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=dev)
    masks, labels, has_mask, defects, paths, kinds, loco_masks, orig = ([] for _ in range(8))
    t0 = time.perf_counter()
    first_batch_s = None
    heartbeat = Heartbeat(f"predict {getattr(dataset, 'name', '')}".strip(), len(loader), unit="batch")
    heartbeat.beat(0, force=True)
    try:
        for n_batch, batch in enumerate(tqdm(loader, desc=f"predict {getattr(dataset, 'name', '')}".strip(), unit="batch",
                          disable=not progress, leave=False), 1):
            batch = move_batch(batch, dev, cl)
            img_hw = tuple(batch["image"].shape[-2:])
            with autocast(dev, dtype):
                outs = _predict_all(method, batch, wanted)
            for key, out in outs.items():
                collect[key].add(out, method, img_hw, size)
            gt = batch["mask"].float()
            if size is not None and size != img_hw:
                gt = F.interpolate(gt, size=size, mode="nearest")
            masks.append(gt[:, 0] > 0.5)
            labels.append(batch["label"].to(dev))
            has_mask.append(batch["has_mask"].to(dev))
            defects += list(batch["defect"])
            paths += list(batch["path"])
            if "anomaly_kind" in batch:
                kinds += list(batch["anomaly_kind"])
                lm = batch["masks"]
                lm = list(lm) if isinstance(lm, torch.Tensor) else lm
                if size is not None and size != img_hw:
                    lm = [F.interpolate(x[None].float(), size=size, mode="nearest")[0].to(torch.uint8) if x.shape[0]
                          else x.new_zeros((0, *size)) for x in lm]
                loco_masks += [x.cpu() for x in lm]
                orig += batch["orig_size"].cpu().tolist()
            if first_batch_s is None:
                synchronize(dev)
                first_batch_s = time.perf_counter() - t0
            heartbeat.beat(n_batch)  # batches done
    finally:
        method.train(was_training)
    synchronize(dev)
    predict_s = time.perf_counter() - t0
    labels_t, masks_t, has_mask_t = torch.cat(labels), torch.cat(masks), torch.cat(has_mask)
    n = int(labels_t.numel())
    n_anom = int((labels_t > 0).sum())
    counts = {"n_images": n, "n_normal": n - n_anom, "n_anomalous": n_anom,
              "n_without_mask": int((~has_mask_t & (labels_t > 0)).sum())}
    counts["per_defect"] = {d: defects.count(d) for d in sorted(set(defects))}
    shared = dict(labels=labels_t.cpu(), defects=defects, paths=paths, counts=counts, anomaly_kinds=kinds or None,
                  masks=masks_t if return_maps else None)
    base_timings = {"predict_s": round(predict_s, 4), "first_batch_s": round(first_batch_s or 0.0, 4),
                    "images_per_s": round(n / predict_s, 2) if predict_s > 0 else None,
                    **({"variants_in_pass": len(variants)} if variants else {})}
    base_protocol = {"aupro_mode": aupro_mode, "mask_resolution": list(masks_t.shape[-2:]),
                     "map_size": list(size) if size else None, "image_size": list(img_hw), "device": str(dev),
                     "amp": amp_name(dtype), "channels_last": cl, "batch_size": batch_size}

    def result(c: _VariantMaps) -> EvalResult:
        maps_t, scores_t = torch.cat(c.maps), torch.cat(c.scores)
        t1 = time.perf_counter()
        metrics: dict[str, MetricResult] = {}
        if compute_metrics:
            metrics = all_metrics(maps_t, scores_t, labels_t, masks_t, defects, has_mask_t.cpu(),
                                  aupro_mode=aupro_mode, fpr_limit=fpr_limit, keep_curves=keep_curves,
                                  defects_config=getattr(dataset, "defects_config", None), anomaly_kinds=kinds,
                                  loco_masks=loco_masks, orig_sizes=orig, spro_fpr_limits=spro_fpr_limits,
                                  extra_fpr_limits=c.extra_fpr_limits)
        synchronize(dev)
        protocol = {**base_protocol, "fpr_limits": [fpr_limit, *(float(x) for x in c.extra_fpr_limits)],
                    "spro_fpr_limits": list(spro_fpr_limits) if "spro" in metrics else None,
                    "image_score": c.rule_name}
        return EvalResult(metrics=metrics, scores=scores_t.cpu(), **shared, protocol=_ordered(protocol),
                          timings=_ordered({**base_timings, "metrics_s": round(time.perf_counter() - t1, 4)}),
                          maps=maps_t if return_maps else None)

    named = {k: result(c) for k, c in collect.items() if k is not None}
    if main:
        ev = result(collect[None])
    else:
        protocol = {**base_protocol, "fpr_limits": [fpr_limit], "spro_fpr_limits": None, "image_score": None}
        ev = EvalResult(metrics={}, scores=torch.zeros(0), **shared, protocol=_ordered(protocol),
                        timings=_ordered({**base_timings, "metrics_s": 0.0}))
    ev.variants = named
    return ev


_KEY_ORDER = ("aupro_mode", "fpr_limits", "spro_fpr_limits", "mask_resolution", "map_size", "image_size",
              "image_score", "device", "amp", "channels_last", "batch_size",
              "predict_s", "metrics_s", "first_batch_s", "images_per_s")


def _ordered(d: dict) -> dict:
    """``d`` with its keys in the order results files have always listed them (others after)."""
    return {**{k: d[k] for k in _KEY_ORDER if k in d}, **{k: v for k, v in d.items() if k not in _KEY_ORDER}}


@torch.no_grad()
def validation_loss(method, dataset, *, batch_size: int = 16, device="auto", amp="auto", channels_last="auto",
                    num_workers: int = 0) -> dict[str, float]:
    """Mean of each ``training_step`` term over ``dataset`` in eval mode without gradients (for
    checkpoint selection on a normal-only validation set). Weighted by batch size."""
    dev, dtype, cl = _prepare(method, device, amp, channels_last)
    was_training = method.training
    method.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    try:
        for batch in make_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, device=dev):
            batch = move_batch(batch, dev, cl)
            b = int(batch["image"].shape[0])
            with autocast(dev, dtype):
                terms = method.training_step(batch)
            for k, v in terms.items():
                v = torch.as_tensor(v).detach().float().to(dev) * b
                sums[k] = sums[k] + v if k in sums else v
            count += b
    finally:
        method.train(was_training)
    return {k: float(v) / count for k, v in sums.items()}
