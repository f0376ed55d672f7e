"""Bootstrap intervals over test images: values, coverage, pairing, verdicts, bad input."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from adlib.metrics.bootstrap import _auroc_fast, bootstrap_metric, compare_evaluations, paired_bootstrap


def _scores(seed, n_norm=20, n_anom=15, sep=1.0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.zeros(n_norm), torch.ones(n_anom)])
    return torch.randn(n_norm + n_anom, generator=g) + sep * labels, labels


def test_fast_auroc_equals_sklearn_with_ties():
    s = np.array([0.1, 0.4, 0.4, 0.4, 0.9, 0.2, 0.4])
    y = np.array([0, 0, 1, 1, 1, 0, 0], bool)
    assert _auroc_fast(s, y) == pytest.approx(roc_auc_score(y, s))


def test_interval_contains_value_and_shrinks_with_more_images():
    s, y = _scores(0)
    small = bootstrap_metric(s, y, n_boot=400)
    assert small.low <= small.value <= small.high
    assert small.value == pytest.approx(roc_auc_score(y.numpy(), s.numpy()))
    s2, y2 = _scores(0, 400, 300)
    big = bootstrap_metric(s2, y2, n_boot=400)
    assert (big.high - big.low) < 0.5 * (small.high - small.low)


def test_interval_covers_the_truth_most_of_the_time():
    # true AUROC of N(0,1) vs N(1,1): Phi(1/sqrt(2)) = 0.7602
    hits = 0
    for seed in range(40):
        s, y = _scores(seed, 30, 30)
        iv = bootstrap_metric(s, y, n_boot=300, seed=seed)
        hits += iv.low <= 0.7602 <= iv.high
    assert hits >= 32  # nominal 95 % (percentile intervals undercover a little on small sets)


def test_paired_identical_models_tie_with_zero_width():
    s, y = _scores(1)
    c = paired_bootstrap({"scores": s}, {"scores": s.clone()}, y, names=("RD", "RD-Var"))
    assert c.diff == 0 and c.low == 0 and c.high == 0 and c.verdict() == "tie"
    assert "tie" in c.sentence()


def test_paired_clear_gap_and_direction():
    s, y = _scores(2, 40, 40, sep=3.0)
    noise = torch.randn(len(y), generator=torch.Generator().manual_seed(5)) * 5
    c = paired_bootstrap({"scores": s}, {"scores": noise}, y, names=("good", "random"))
    assert c.low > 0 and c.verdict() == "good higher"
    rev = paired_bootstrap({"scores": noise}, {"scores": s}, y, names=("random", "good"))
    assert rev.verdict() == "good higher" and rev.high < 0


def test_pairing_makes_the_gap_interval_narrower_than_separate_intervals():
    s, y = _scores(3, 30, 30)
    s_b = s + 0.05 * torch.randn(len(s), generator=torch.Generator().manual_seed(9))  # almost the same model
    c = paired_bootstrap({"scores": s}, {"scores": s_b}, y, n_boot=500)
    ia, ib = bootstrap_metric(s, y, n_boot=500), bootstrap_metric(s_b, y, n_boot=500)
    assert (c.high - c.low) < 0.5 * ((ia.high - ia.low) + (ib.high - ib.low)) / 2


def test_pixel_metrics_resample_images():
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(12, 16, 16)
    masks[6:, 4:9, 4:9] = 1
    y = torch.tensor([0] * 6 + [1] * 6)
    good = torch.rand(12, 16, 16, generator=g) + 2 * masks
    bad = torch.rand(12, 16, 16, generator=g)

    class Ev:
        def __init__(self, maps):
            self.maps, self.scores = maps, maps.flatten(1).amax(1)

    out = compare_evaluations(Ev(good), Ev(bad), y, names=("good", "bad"), masks=masks, pixel_boot=50)
    assert set(out) == {"image_auroc", "pixel_auroc"}
    assert out["pixel_auroc"].verdict() == "good higher"
    assert out["pixel_auroc"].a == pytest.approx(roc_auc_score(masks.flatten().numpy(), good.flatten().numpy()))
    assert "pixel_auroc" not in compare_evaluations(Ev(good), Ev(bad), y, masks=None)


def test_bad_input_is_an_error():
    s, y = _scores(0)
    with pytest.raises(ValueError, match="normal and anomalous"):
        bootstrap_metric(s, torch.ones_like(y))
    with pytest.raises(ValueError, match="metric"):
        bootstrap_metric(s, y, metric="aupro")
    with pytest.raises(ValueError, match="maps and masks"):
        bootstrap_metric(s, y, metric="pixel_auroc")


def test_input_dependence_and_loss_drop():
    from adlib.methods.common import input_dependence, loss_drop

    g = torch.Generator().manual_seed(0)
    t = [torch.randn(6, 4, 5, 5, generator=g) for _ in range(2)]
    const = [x.mean(0, keepdim=True).expand_as(x) for x in t]      # the same output for every image
    copy = [2 * x for x in t]
    assert input_dependence(t, const) == pytest.approx([0, 0], abs=1e-6)
    assert input_dependence(t, copy) == pytest.approx([2, 2])
    with pytest.raises(ValueError):
        input_dependence(t, t[:1])
    d = loss_drop([4, 4, 3, 2, 1, 1], k=2)
    assert (d.first, d.last, d.k) == (4, 1, 2) and d.ratio == 0.25 and "×0.25" in str(d)
    assert loss_drop([3.0]).first == 3.0
