"""How much a number moves when the test set is redrawn: bootstrap intervals over test images.

A test set of 28 images cannot resolve a gap of one point of image AUROC. These functions resample
the *images* (with replacement, normal and anomalous images separately, so every draw has both
classes) and recompute the metric on each draw:

- :func:`bootstrap_metric` — one model: the metric and its percentile interval;
- :func:`paired_bootstrap` — two models scored on the same images: the same draws for both, so the
  interval is of the *difference* A − B (the noise of a comparison, smaller than the two intervals
  combined when the models agree on which images are hard);
- :class:`Comparison` — the result, with :meth:`Comparison.verdict`: an ordering whose interval
  contains 0 is a **tie**;
- :func:`mean_interval` — the mean of per-image (or per-seed) values, e.g. differences, with its interval;
- :func:`paired_bootstrap_groups` — any statistics of two models (a dict of numbers each) on the same
  redraws within named groups of images (MVTec LOCO: good / logical / structural).

Pixel metrics resample whole images too (their pixels are not independent); pass ``maps`` and
``masks`` and ``metric="pixel_auroc"`` or ``"pixel_ap"``. A set of anomalous images only (synthetic
anomalies) can be resampled for a pixel metric: pass ``labels=None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .ranking import image_auroc, pixel_ap, pixel_auroc

IMAGE_METRICS = ("image_auroc",)
PIXEL_METRICS = ("pixel_auroc", "pixel_ap")


def image_auroc_draws(scores, draws: np.ndarray, n_normal: int, chunk: int = 20_000_000) -> np.ndarray:
    """Image AUROC of every bootstrap draw at once (one row of ``draws`` per draw: ``n_normal`` normal
    image indices, then anomalous ones, as :func:`_draws` lays them out): the Mann–Whitney count with
    ties as half, which is what :func:`~adlib.metrics.image_auroc` computes — vectorised over draws so
    a thousand redraws cost one array operation instead of a thousand sorts."""
    s = np.asarray(torch.as_tensor(scores).double().cpu())[draws]
    neg, pos = s[:, :n_normal], s[:, n_normal:]
    out = np.empty(len(s))
    step = max(1, chunk // max(1, neg.shape[1] * pos.shape[1]))
    for i in range(0, len(s), step):
        p, q = pos[i:i + step, :, None], neg[i:i + step, None, :]
        out[i:i + step] = ((p > q).sum((1, 2)) + 0.5 * (p == q).sum((1, 2))) / (pos.shape[1] * neg.shape[1])
    return out


def _draws(labels: np.ndarray | None, n: int, seed: int, n_images: int | None = None) -> np.ndarray:
    """``n`` × n_images image indices, resampled within each class (normal first, then anomalous);
    ``labels=None``: one group of ``n_images`` images."""
    rng = np.random.default_rng(seed)
    groups = ([np.arange(n_images)] if labels is None else
              [g for g in (np.flatnonzero(labels == v) for v in (False, True)) if len(g)])
    return np.stack([np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
                     for _ in range(n)])


def _metric_values(metric: str, scores, labels, maps, masks, draws: np.ndarray) -> np.ndarray:
    """The metric on every draw."""
    if metric in IMAGE_METRICS:
        return image_auroc_draws(scores, draws, int((~labels).sum()))
    if metric in PIXEL_METRICS:
        if maps is None or masks is None:
            raise ValueError(f"{metric} needs maps and masks")
        fn = pixel_auroc if metric == "pixel_auroc" else pixel_ap
        m, g = torch.as_tensor(maps), torch.as_tensor(masks)
        n = draws.shape[1]
        if m.shape[0] != n or g.shape[0] != n:
            raise ValueError(f"maps {tuple(m.shape)} / masks {tuple(g.shape)} do not match {n} images")
        return np.array([fn(m[torch.as_tensor(idx)], g[torch.as_tensor(idx)]).value for idx in draws])
    raise ValueError(f"metric must be one of {IMAGE_METRICS + PIXEL_METRICS}, got {metric!r}")


def _labels(labels, metric: str = "image_auroc", n_images: int | None = None) -> np.ndarray | None:
    """Boolean labels; image metrics need both classes. ``None`` (pixel metrics only): all images in one group."""
    if labels is None:
        if metric in IMAGE_METRICS or n_images is None:
            raise ValueError(f"{metric} needs the images' labels")
        return None
    y = np.asarray(torch.as_tensor(labels).cpu()).astype(bool).ravel()
    if metric in IMAGE_METRICS and (y.all() or not y.any()):
        raise ValueError("the bootstrap needs normal and anomalous test images")
    return y


def _full(metric, scores, labels, maps, masks) -> float:
    """The metric on the whole test set."""
    if metric in IMAGE_METRICS:
        return image_auroc(torch.as_tensor(scores), torch.as_tensor(labels)).value
    return (pixel_auroc if metric == "pixel_auroc" else pixel_ap)(torch.as_tensor(maps), torch.as_tensor(masks)).value


@dataclass
class Interval:
    """A metric on the whole test set and its bootstrap percentile interval (fractions, not %)."""

    metric: str
    value: float
    low: float
    high: float
    level: float
    n_boot: int

    def __str__(self) -> str:
        return f"{100 * self.value:.1f} [{100 * self.low:.1f}, {100 * self.high:.1f}]"


@dataclass
class Comparison:
    """A − B on the same test images, with the bootstrap interval of the difference."""

    metric: str
    names: tuple[str, str]
    a: float
    b: float
    low: float  # interval of a − b
    high: float
    level: float
    n_boot: int

    @property
    def diff(self) -> float:
        return self.a - self.b

    def verdict(self) -> str:
        """``"A higher"``, ``"B higher"`` or ``"tie"`` (the interval of A − B contains 0)."""
        a, b = self.names
        if self.low > 0:
            return f"{a} higher"
        if self.high < 0:
            return f"{b} higher"
        return "tie"

    def sentence(self) -> str:
        """One line for a notebook: both values, the gap, its interval, the verdict."""
        a, b = self.names
        pct = int(round(100 * self.level))
        v = self.verdict()
        tail = (f"a tie: the {pct} % interval of the gap contains 0" if v == "tie"
                else f"{v}, outside the noise ({pct} % interval excludes 0)")
        return (f"{self.metric}: {a} {100 * self.a:.1f} vs {b} {100 * self.b:.1f}, gap {100 * self.diff:+.1f} "
                f"[{100 * self.low:+.1f}, {100 * self.high:+.1f}] points — {tail}")


def _interval(values, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap values."""
    q = (1 - level) / 2
    return float(np.quantile(values, q)), float(np.quantile(values, 1 - q))


def _n_images(maps) -> int | None:
    return None if maps is None else int(torch.as_tensor(maps).shape[0])


def bootstrap_metric(scores=None, labels=None, *, metric: str = "image_auroc", maps=None, masks=None,
                     n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """The metric of one model with a percentile interval over ``n_boot`` redraws of the test images
    (pixel metrics: ``labels=None`` resamples all images as one group, e.g. synthetic anomalies only)."""
    n = _n_images(maps)
    y = _labels(labels, metric, n)
    vals = _metric_values(metric, scores, y, maps, masks, _draws(y, n_boot, seed, n))
    return Interval(metric, _full(metric, scores, y, maps, masks), *_interval(vals, level), level, n_boot)


def paired_bootstrap(a: dict, b: dict, labels, *, names: tuple[str, str] = ("A", "B"), metric: str = "image_auroc",
                     masks=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Comparison:
    """A − B on the same redraws. ``a`` / ``b``: ``{"scores": ...}`` for image metrics, ``{"maps": ...}``
    for pixel metrics (an :class:`~adlib.engine.EvalResult`'s ``scores`` / ``maps``)."""
    n = _n_images(a.get("maps"))
    y = _labels(labels, metric, n)
    draws = _draws(y, n_boot, seed, n)
    diffs = (_metric_values(metric, a.get("scores"), y, a.get("maps"), masks, draws)
             - _metric_values(metric, b.get("scores"), y, b.get("maps"), masks, draws))
    va = _full(metric, a.get("scores"), y, a.get("maps"), masks)
    vb = _full(metric, b.get("scores"), y, b.get("maps"), masks)
    return Comparison(metric, tuple(names), va, vb, *_interval(diffs, level), level, n_boot)


def paired_bootstrap_records(a: dict, b: dict, *, names: tuple[str, str] = ("A", "B"), n_boot: int = 1000,
                             level: float = 0.95, seed: int = 0) -> Comparison:
    """:func:`paired_bootstrap` of image AUROC from two stored score records (a results file's
    ``extra.image_scores``: ``{"ids", "labels", "scores"}``). Raises ValueError unless both score the
    same images, in the same order, with the same labels — a pairing that is not one is no comparison."""
    for k in ("ids", "labels", "scores"):
        if k not in a or k not in b:
            raise ValueError(f"a score record needs ids, labels and scores; {k!r} is missing")
    if list(a["ids"]) != list(b["ids"]):
        raise ValueError("the two records score different test images (or the same ones in another order)")
    if list(a["labels"]) != list(b["labels"]):
        raise ValueError("the two records give the same test images different labels")
    return paired_bootstrap({"scores": np.asarray(a["scores"], dtype=float)}, {"scores": np.asarray(b["scores"], dtype=float)},
                            np.asarray(a["labels"]), names=names, n_boot=n_boot, level=level, seed=seed)


def compare_evaluations(ev_a, ev_b, labels, *, names: tuple[str, str] = ("A", "B"), masks=None,
                        metrics=("image_auroc", "pixel_auroc"), n_boot: int = 1000, pixel_boot: int = 200,
                        seed: int = 0) -> dict[str, Comparison]:
    """:func:`paired_bootstrap` for each metric of two evaluations (``scores`` and ``maps`` attributes);
    pixel metrics use ``pixel_boot`` draws (each draw re-sorts every pixel) and need ``masks``."""
    out = {}
    for m in metrics:
        if m in PIXEL_METRICS and masks is None:
            continue
        out[m] = paired_bootstrap({"scores": ev_a.scores, "maps": ev_a.maps}, {"scores": ev_b.scores, "maps": ev_b.maps},
                                  labels, names=names, metric=m, masks=masks, seed=seed,
                                  n_boot=pixel_boot if m in PIXEL_METRICS else n_boot)
    return out


def mean_interval(values, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0, name: str = "mean") -> Interval:
    """The mean of per-image (or per-seed) values — e.g. each image's A − B difference — with a
    percentile interval over ``n_boot`` redraws of the values with replacement."""
    v = np.asarray(torch.as_tensor(values).double().cpu()).ravel()
    if v.size == 0:
        raise ValueError("mean_interval needs at least one value")
    boot = np.random.default_rng(seed).choice(v, size=(n_boot, v.size)).mean(1)
    return Interval(name, float(v.mean()), *_interval(boot, level), level, n_boot)


def paired_bootstrap_groups(stat_a, stat_b, groups: dict, *, names: tuple[str, str] = ("A", "B"), n_boot: int = 1000,
                            level: float = 0.95, seed: int = 0) -> dict[str, Comparison]:
    """A − B of several statistics on the same redraws, images resampled within each named group.

    ``groups``: ``{group: image indices}``; ``stat_a`` / ``stat_b``: ``f({group: indices}) -> {key: value}``
    (called once on the whole set, then on each draw). Returns ``{key: Comparison}``."""
    groups = {k: np.asarray(g) for k, g in groups.items()}
    full_a, full_b = stat_a(groups), stat_b(groups)
    rng = np.random.default_rng(seed)
    diffs: dict = {k: [] for k in full_a}
    for _ in range(n_boot):
        draw = {k: rng.choice(g, size=len(g), replace=True) for k, g in groups.items()}
        a, b = stat_a(draw), stat_b(draw)
        for k in diffs:
            diffs[k].append(a[k] - b[k])
    return {k: Comparison(k, tuple(names), full_a[k], full_b[k], *_interval(diffs[k], level), level, n_boot)
            for k in full_a}
