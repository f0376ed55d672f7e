"""How much a number moves when the test set is redrawn: bootstrap intervals over test images.

A test set of 28 images cannot resolve a gap of one point of image AUROC. These functions resample
the *images* (with replacement, normal and anomalous images separately, so every draw has both
classes) and recompute the metric on each draw:

- :func:`bootstrap_metric` — one model: the metric and its percentile interval;
- :func:`paired_bootstrap` — two models scored on the same images: the same draws for both, so the
  interval is of the *difference* A − B (the noise of a comparison, smaller than the two intervals
  combined when the models agree on which images are hard);
- :class:`Comparison` — the result, with :meth:`Comparison.verdict`: an ordering whose interval
  contains 0 is a **tie**.

Pixel metrics resample whole images too (their pixels are not independent); pass ``maps`` and
``masks`` and ``metric="pixel_auroc"`` or ``"pixel_ap"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .ranking import image_auroc, pixel_ap, pixel_auroc

IMAGE_METRICS = ("image_auroc",)
PIXEL_METRICS = ("pixel_auroc", "pixel_ap")


def _auroc_fast(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann–Whitney AUROC with ties counted half (equals :func:`image_auroc`)."""
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater) / (len(pos) * len(neg))


def _draws(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` × len(labels) image indices, resampled within each class."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == v) for v in (False, True)]
    return np.stack([np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
                     for _ in range(n)])


def _metric_fn(metric: str, scores, labels, maps, masks):
    if metric in IMAGE_METRICS:
        s = np.asarray(torch.as_tensor(scores).double().cpu())
        return lambda idx: _auroc_fast(s[idx], labels[idx])
    if metric in PIXEL_METRICS:
        if maps is None or masks is None:
            raise ValueError(f"{metric} needs maps and masks")
        fn = pixel_auroc if metric == "pixel_auroc" else pixel_ap
        m, g = torch.as_tensor(maps), torch.as_tensor(masks)
        if m.shape[0] != len(labels) or g.shape[0] != len(labels):
            raise ValueError(f"maps {tuple(m.shape)} / masks {tuple(g.shape)} do not match {len(labels)} labels")
        return lambda idx: fn(m[torch.as_tensor(idx)], g[torch.as_tensor(idx)]).value
    raise ValueError(f"metric must be one of {IMAGE_METRICS + PIXEL_METRICS}, got {metric!r}")


def _labels(labels) -> np.ndarray:
    y = np.asarray(torch.as_tensor(labels).cpu()).astype(bool).ravel()
    if y.all() or not y.any():
        raise ValueError("the bootstrap needs normal and anomalous test images")
    return y


def _full(metric, scores, labels, maps, masks) -> float:
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


def bootstrap_metric(scores=None, labels=None, *, metric: str = "image_auroc", maps=None, masks=None,
                     n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """The metric of one model with a percentile interval over ``n_boot`` redraws of the test images."""
    y = _labels(labels)
    fn = _metric_fn(metric, scores, y, maps, masks)
    vals = np.array([fn(idx) for idx in _draws(y, n_boot, seed)])
    q = (1 - level) / 2
    return Interval(metric, _full(metric, scores, y, maps, masks), float(np.quantile(vals, q)),
                    float(np.quantile(vals, 1 - q)), level, n_boot)


def paired_bootstrap(a: dict, b: dict, labels, *, names: tuple[str, str] = ("A", "B"), metric: str = "image_auroc",
                     masks=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Comparison:
    """A − B on the same redraws. ``a`` / ``b``: ``{"scores": ...}`` for image metrics, ``{"maps": ...}``
    for pixel metrics (an :class:`~adlib.engine.EvalResult`'s ``scores`` / ``maps``)."""
    y = _labels(labels)
    fa = _metric_fn(metric, a.get("scores"), y, a.get("maps"), masks)
    fb = _metric_fn(metric, b.get("scores"), y, b.get("maps"), masks)
    diffs = np.array([fa(idx) - fb(idx) for idx in _draws(y, n_boot, seed)])
    q = (1 - level) / 2
    va = _full(metric, a.get("scores"), y, a.get("maps"), masks)
    vb = _full(metric, b.get("scores"), y, b.get("maps"), masks)
    return Comparison(metric, tuple(names), va, vb, float(np.quantile(diffs, q)), float(np.quantile(diffs, 1 - q)),
                      level, n_boot)


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
