"""adlib.metrics against scikit-learn and slow brute-force references, plus properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from adlib.metrics import (MetricError, aupro, evaluate, evaluate_loco, f1_max, image_auroc, pixel_ap,
                           pixel_auroc, pro_curve, region_overlaps, spro)
from metric_reference import aupro_ref, legacy_pro_ref, pro_curve_ref, spro_ref


def random_set(seed=0, n=6, size=12, anomalous=3, decimals=None):
    """Maps with blobs of higher scores on random rectangular regions (some touching the border)."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.float32)
    for i in range(anomalous):
        for _ in range(rng.integers(1, 3)):
            y, x = rng.integers(0, size - 2, 2)
            h, w = rng.integers(1, 5, 2)
            masks[i, y:y + h, x:x + w] = 1
    masks[0, 0, :3] = 1  # a region on the border
    masks[1, -1, -1] = 1  # a one-pixel region in the corner
    maps = rng.random((n, size, size)).astype(np.float32) + masks * rng.random((n, 1, 1)).astype(np.float32)
    if decimals is not None:
        maps = np.round(maps, decimals)  # many ties
    return maps, masks


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1), (2, 2), (3, None)])
def test_pixel_auroc_ap_match_sklearn(seed, decimals):
    maps, masks = random_set(seed, decimals=decimals)
    y, s = masks.ravel(), maps.ravel()
    assert pixel_auroc(maps, masks).value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert pixel_ap(maps, masks).value == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("decimals", [None, 1])
def test_image_auroc_and_f1_match_sklearn(decimals):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 50)
    scores = rng.random(50) + 0.4 * labels
    if decimals:
        scores = np.round(scores, decimals)
    assert image_auroc(scores, labels).value == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    res = f1_max(scores, labels)
    best = max(f1_score(labels, scores >= t) for t in np.unique(scores))
    assert res.value == pytest.approx(best, abs=1e-12)
    assert f1_score(labels, scores >= res.protocol["best_threshold"]) == pytest.approx(best)


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1), (2, 2), (4, None)])
def test_aupro_mvtec_matches_brute_force(seed, decimals):
    maps, masks = random_set(seed, decimals=decimals)
    for limit in (0.3, 0.05, 1.0):
        assert aupro(maps, masks, fpr_limit=limit).value == pytest.approx(aupro_ref(maps, masks, limit), abs=1e-9)
    f, p = pro_curve(maps, masks)
    fr, pr = pro_curve_ref(maps, masks)
    # the brute force has one point per threshold; ours two per positive score: same area everywhere
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(np.interp(grid, f.numpy(), p.numpy()), np.interp(grid, fr, pr), atol=1e-9)


@pytest.mark.parametrize("seed", [0, 3])
def test_aupro_legacy_modes_match_rd4ad_routine(seed):
    maps, masks = random_set(seed, n=5, anomalous=3)
    per_image = [legacy_pro_ref(maps[i:i + 1], masks[i:i + 1]) for i in range(5) if masks[i].any()]
    assert aupro(maps, masks, mode="rd4ad_legacy").value == pytest.approx(np.mean(per_image), abs=1e-9)
    assert aupro(maps, masks, mode="daf_legacy").value == pytest.approx(legacy_pro_ref(maps, masks), abs=1e-9)


def test_aupro_hand_made_case():
    m = np.full((1, 4, 4), 0.1)
    g = np.zeros((1, 4, 4))
    g[0, :2, :2] = 1
    m[0, :2, :2] = 0.9
    m[0, 3, 3] = 0.95  # one false positive above the defect
    # curve (0,0) (1/12,0) (1/12,1) (1,1): area to 0.3 is 0.3 - 1/12
    assert aupro(m, g).value == pytest.approx((0.3 - 1 / 12) / 0.3)


def test_spro_hand_made_case():
    cfg = [{"defect_name": "d", "pixel_value": 7, "saturation_threshold": 2, "relative_saturation": False}]
    m = np.full((1, 4, 4), 0.1)
    ch = np.zeros((1, 4, 4), np.uint8)
    ch[0, :2, :2] = 7
    m[0, :2, :2] = [[0.9, 0.8], [0.2, 0.2]]
    m[0, 3, 3], m[0, 3, 2] = 0.95, 0.85
    # (1/12, 0) → (1/12, .5) → (2/12, .5) → (2/12, 1): area to 0.3 = .5/12 + (0.3 - 2/12)
    res = spro(m, [torch.from_numpy(ch)], cfg, fpr_limits=(0.3,))
    assert res.value[0.3] == pytest.approx((0.5 / 12 + 0.3 - 2 / 12) / 0.3)


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1), (2, None)])
def test_spro_matches_brute_force(seed, decimals):
    rng = np.random.default_rng(seed)
    n, size = 5, 12
    cfg = [{"defect_name": "abs", "pixel_value": 255, "saturation_threshold": 5, "relative_saturation": False},
           {"defect_name": "rel", "pixel_value": 100, "saturation_threshold": 0.5, "relative_saturation": True},
           {"defect_name": "full", "pixel_value": 30, "saturation_threshold": 1.0, "relative_saturation": True}]
    maps = rng.random((n, size, size))
    stacks = []
    for i in range(n):
        k = [2, 1, 3, 0, 0][i]
        st = np.zeros((k, size, size), np.uint8)
        for c in range(k):
            y, x = rng.integers(0, size - 3, 2)
            st[c, y:y + rng.integers(1, 4), x:x + rng.integers(1, 5)] = [255, 100, 30][c % 3]
            maps[i] += 0.3 * (st[c] > 0)
        stacks.append(torch.from_numpy(st))
    stacks[2][2, 0, 0] = 30  # channels may overlap other channels' pixels (a disconnected region)
    if decimals:
        maps = np.round(maps, decimals)
    ref_cfg = {c["pixel_value"]: (c["saturation_threshold"], c["relative_saturation"]) for c in cfg}
    res = spro(maps, stacks, cfg)
    for lim, v in res.value.items():
        assert v == pytest.approx(spro_ref(maps, stacks, ref_cfg, lim), abs=1e-9), lim


def test_spro_scales_absolute_saturation_to_resolution():
    cfg = [{"defect_name": "d", "pixel_value": 1, "saturation_threshold": 40, "relative_saturation": False}]
    m = np.random.default_rng(0).random((1, 8, 8))
    ch = np.zeros((1, 8, 8), np.uint8)
    ch[0, 2:6, 2:6] = 1
    same = spro(m, [torch.from_numpy(ch)], cfg, orig_sizes=[(8, 8)]).value
    scaled = spro(m, [torch.from_numpy(ch)], cfg, orig_sizes=[(16, 16)]).value  # 40 px there = 10 px here
    ref10 = spro_ref(m, [ch], {1: (10, False)}, 0.3)
    assert scaled[0.3] == pytest.approx(ref10) and same[0.3] != pytest.approx(ref10)


# -- properties -------------------------------------------------------------------------------
def test_perfect_maps_score_one_and_results_in_unit_interval():
    maps, masks = random_set(7)
    for fn in (pixel_auroc, pixel_ap):
        assert fn(masks, masks).value == 1.0
        v = fn(maps, masks).value
        assert 0.0 <= v <= 1.0
    for mode in ("mvtec", "rd4ad_legacy", "daf_legacy"):
        assert aupro(masks, masks, mode=mode).value == pytest.approx(1.0)
        assert 0.0 <= aupro(maps, masks, mode=mode).value <= 1.0
        assert aupro(-masks, masks, mode=mode).value == pytest.approx(0.0, abs=1e-12)


def test_constant_maps_give_chance_level():
    _, masks = random_set(2)
    const = np.zeros_like(masks)
    assert pixel_auroc(const, masks).value == pytest.approx(0.5)
    assert aupro(const, masks).value == pytest.approx(0.15)  # straight line from (0,0) to (1,1): area 0.045/0.3


def test_nan_and_bad_shapes_raise():
    maps, masks = random_set(0)
    maps[2, 3, 3] = np.nan
    for fn in (pixel_auroc, pixel_ap, aupro):
        with pytest.raises(MetricError, match="NaN"):
            fn(maps, masks)
    with pytest.raises(MetricError, match="NaN"):
        image_auroc([0.1, float("nan")], [0, 1])
    with pytest.raises(MetricError, match="differ in shape"):
        pixel_auroc(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(MetricError, match="scores but"):
        image_auroc([0.1, 0.2], [0, 1, 1])


def test_one_class_and_empty_masks_raise():
    with pytest.raises(MetricError, match="no anomalous"):
        image_auroc([0.1, 0.2, 0.3], [0, 0, 0])
    with pytest.raises(MetricError, match="no normal"):
        image_auroc([0.1, 0.2], [1, 1])
    empty = np.zeros((3, 8, 8))
    with pytest.raises(MetricError):
        pixel_auroc(np.random.rand(3, 8, 8), empty)
    for mode in ("mvtec", "rd4ad_legacy"):
        with pytest.raises(MetricError, match="region"):
            aupro(np.random.rand(3, 8, 8), empty, mode=mode)
    with pytest.raises(ValueError, match="mode"):
        aupro(np.random.rand(3, 8, 8), empty, mode="fast")


def test_region_overlaps_eight_connectivity():
    m = np.zeros((5, 5))
    m[0, 0] = m[1, 1] = 1  # diagonal neighbours: one region
    m[3:, 3:] = 1
    p = np.zeros((5, 5), bool)
    p[0, 0] = p[4, 4] = True
    np.testing.assert_allclose(region_overlaps(p, m), [0.5, 0.25])


def test_evaluate_matches_standalone_and_subsets():
    maps, masks = random_set(11, n=9, anomalous=6)
    defects = ["a", "b", "a", "b", "a", "b", "good", "good", "good"]
    labels = np.array([d != "good" for d in defects], int)
    scores = maps.reshape(9, -1).max(1)
    res = evaluate(maps, scores, labels, masks, defects)
    assert res["pixel_auroc"].value == pytest.approx(pixel_auroc(maps, masks).value, abs=1e-12)
    assert res["pixel_ap"].value == pytest.approx(pixel_ap(maps, masks).value, abs=1e-12)
    assert res["aupro"].value == pytest.approx(aupro_ref(maps, masks), abs=1e-9)
    assert res["image_auroc"].value == pytest.approx(roc_auc_score(labels, scores))
    for kind in ("a", "b"):
        sel = [i for i, d in enumerate(defects) if d in ("good", kind)]
        assert res["aupro"].per_defect[kind] == pytest.approx(aupro_ref(maps[sel], masks[sel]), abs=1e-9)
        assert res["pixel_auroc"].per_defect[kind] == pytest.approx(roc_auc_score(masks[sel].ravel(), maps[sel].ravel()))
        assert res["pixel_ap"].per_defect[kind] == pytest.approx(average_precision_score(masks[sel].ravel(), maps[sel].ravel()))
    legacy = evaluate(maps, scores, labels, masks, defects, aupro_mode="rd4ad_legacy")
    assert legacy["aupro"].protocol["mode"] == "rd4ad_legacy"
    assert res["aupro"].protocol["mode"] == "mvtec" and res["aupro"].protocol["fpr_limit"] == 0.3
    assert res["pixel_auroc"].protocol["mask_resolution"] == [12, 12]


def test_evaluate_skips_images_without_mask():
    maps, masks = random_set(3, n=6, anomalous=3)
    labels = np.array([1, 1, 1, 0, 0, 0])
    has_mask = [True, False, True, True, True, True]
    res = evaluate(maps, maps.reshape(6, -1).max(1), labels, masks, has_mask=has_mask, per_defect=False)
    keep = [0, 2, 3, 4, 5]
    assert res["pixel_auroc"].value == pytest.approx(roc_auc_score(masks[keep].ravel(), maps[keep].ravel()))
    assert res["pixel_auroc"].protocol["images_without_mask_skipped"] == 1


def test_evaluate_loco_split():
    rng = np.random.default_rng(0)
    cfg = [{"defect_name": "x", "pixel_value": 9, "saturation_threshold": 0.5, "relative_saturation": True}]
    maps = rng.random((6, 8, 8))
    kinds = ["good", "good", "logical", "logical", "structural", "structural"]
    stacks = []
    for i, k in enumerate(kinds):
        st = np.zeros((0 if k == "good" else 2, 8, 8), np.uint8)
        if k != "good":
            st[0, :3, :3] = 9
            st[1, 5:, 5:] = 9
            maps[i] += 0.5 * (st.max(0) > 0)
        stacks.append(torch.from_numpy(st))
    scores = maps.reshape(6, -1).max(1)
    res = evaluate_loco(maps, scores, stacks, kinds, cfg)
    ref = {1: (0.5, True)}
    for kind, idx in (("logical", [0, 1, 2, 3]), ("structural", [0, 1, 4, 5])):
        assert res["spro"].value[kind][0.05] == pytest.approx(spro_ref(maps[idx], [stacks[i] for i in idx], {9: (0.5, True)}, 0.05))
        y = [kinds[i] != "good" for i in idx]
        assert res["image_auroc"].value[kind] == pytest.approx(roc_auc_score(y, scores[idx]))
    assert res["spro"].value["mean"][0.05] == pytest.approx(np.mean([res["spro"].value[k][0.05] for k in ("logical", "structural")]))
    assert res["spro"].protocol["fpr_limits"] == [0.01, 0.05, 0.1, 0.3, 1.0]


def test_metrics_accept_tensors_and_keep_device():
    maps, masks = random_set(1)
    t = pixel_auroc(torch.from_numpy(maps), torch.from_numpy(masks)).value
    assert t == pytest.approx(pixel_auroc(maps, masks).value)
    res = aupro(torch.from_numpy(maps)[:, None], torch.from_numpy(masks)[:, None], keep_curve=True)
    assert len(res.curve["x"]) <= 1000 and res.curve["x"][0] == 0.0 and res.curve["y"][-1] == 1.0
