"""Bootstrap intervals over test images: values, coverage, pairing, verdicts, bad input."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from adlib.metrics import image_auroc, pixel_auroc
from adlib.metrics.bootstrap import (_draws, bootstrap_metric, compare_evaluations, image_auroc_draws, mean_interval,
                                    paired_bootstrap, paired_bootstrap_groups)


def _scores(seed, n_norm=20, n_anom=15, sep=1.0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.zeros(n_norm), torch.ones(n_anom)])
    return torch.randn(n_norm + n_anom, generator=g) + sep * labels, labels


def test_auroc_of_every_draw_equals_image_auroc_with_ties():
    s = torch.tensor([0.1, 0.4, 0.4, 0.4, 0.9, 0.2, 0.4, 0.4, 0.0])
    y = np.array([0, 0, 1, 1, 1, 0, 0, 1, 0], bool)
    draws = _draws(y, 50, seed=3)
    got = image_auroc_draws(s, draws, int((~y).sum()), chunk=7)  # several chunks
    want = [image_auroc(s[torch.as_tensor(d)], torch.as_tensor(y[d])).value for d in draws]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[0] == pytest.approx(roc_auc_score(y[draws[0]], s.numpy()[draws[0]]))
    assert len(set(np.round(got, 6))) > 3  # the draws differ


def test_mean_interval():
    v = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0])
    iv = mean_interval(v, n_boot=500, seed=1)
    assert iv.value == pytest.approx(4.0) and iv.low < 4.0 < iv.high and iv.n_boot == 500
    assert mean_interval(torch.ones(6)).low == mean_interval(torch.ones(6)).high == 1.0
    wide, narrow = mean_interval(np.random.default_rng(0).normal(size=10)), mean_interval(
        np.random.default_rng(0).normal(size=1000))
    assert narrow.high - narrow.low < 0.5 * (wide.high - wide.low)
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])


def test_pixel_metric_of_anomalous_images_only():
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(10, 16, 16)
    masks[:, 4:9, 4:9] = 1
    maps = torch.rand(10, 16, 16, generator=g) + 0.3 * masks * torch.arange(10.0)[:, None, None] / 9
    iv = bootstrap_metric(metric="pixel_auroc", maps=maps, masks=masks, n_boot=30)
    assert iv.value == pytest.approx(pixel_auroc(maps, masks).value) and iv.low <= iv.value <= iv.high
    assert iv.high - iv.low > 0
    with pytest.raises(ValueError, match="labels"):
        bootstrap_metric(torch.rand(10), None)


def test_paired_bootstrap_groups_matches_paired_bootstrap_verdicts():
    s, y = _scores(2, 30, 30, sep=2.0)
    noise = torch.randn(len(y), generator=torch.Generator().manual_seed(5))
    groups = {"good": np.flatnonzero(~y.bool().numpy()), "bad": np.flatnonzero(y.bool().numpy())}

    def stat(scores):
        return lambda d: {"auroc": image_auroc(scores[torch.as_tensor(np.concatenate([d["good"], d["bad"]]))],
                                               torch.as_tensor([0] * len(d["good"]) + [1] * len(d["bad"]))).value,
                          "mean_bad": float(scores[torch.as_tensor(d["bad"])].mean())}

    out = paired_bootstrap_groups(stat(s), stat(noise), groups, names=("good", "noise"), n_boot=200)
    assert set(out) == {"auroc", "mean_bad"}
    assert out["auroc"].verdict() == "good higher"
    assert out["auroc"].a == pytest.approx(image_auroc(s, y).value)
    same = paired_bootstrap_groups(stat(s), stat(s), groups, n_boot=50)
    assert same["auroc"].verdict() == "tie" and same["auroc"].low == same["auroc"].high == 0


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


def test_paired_bootstrap_records_pairs_stored_scores_and_refuses_other_images():
    """Two results files' ``extra.image_scores``: the same interval as :func:`paired_bootstrap` on the
    arrays; a record of other images, another order, other labels or missing keys raises ValueError."""
    from adlib.metrics import paired_bootstrap, paired_bootstrap_records

    rng = np.random.default_rng(0)
    labels = [0] * 20 + [1] * 20
    ids = [f"img{i}" for i in range(40)]
    sa = (rng.normal(size=40) + np.asarray(labels)).tolist()
    sb = rng.normal(size=40).tolist()
    a, b = ({"ids": ids, "labels": labels, "scores": s} for s in (sa, sb))
    c = paired_bootstrap_records(a, b, n_boot=200, seed=3)
    ref = paired_bootstrap({"scores": np.asarray(sa)}, {"scores": np.asarray(sb)}, np.asarray(labels), n_boot=200, seed=3)
    assert (c.a, c.b, c.low, c.high) == (ref.a, ref.b, ref.low, ref.high) and c.a > c.b
    for bad in ({**b, "ids": ids[::-1]}, {**b, "labels": labels[::-1]}, {k: v for k, v in b.items() if k != "ids"}):
        with pytest.raises(ValueError):
            paired_bootstrap_records(a, bad, n_boot=10)
