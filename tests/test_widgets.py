"""adlib.widgets: controls set in code change what the views compute; static fallbacks are figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from adlib import viz, widgets  # noqa: E402
from adlib.widgets import STATIC_ENV  # noqa: E402

H = W = 24
# the interactive views need ipywidgets (a dependency of adlib[notebooks]); without it they are static
needs_ipywidgets = pytest.mark.skipif(importlib.util.find_spec("ipywidgets") is None,
                                      reason="ipywidgets not installed: the views fall back to static figures")


@pytest.fixture(autouse=True)
def interactive_env(monkeypatch):
    monkeypatch.delenv(STATIC_ENV, raising=False)
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a test left pyplot figures open"


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 6
    images = (rng.random((n, H, W, 3)) * 255).astype(np.uint8)
    gts = np.zeros((n, H, W), np.uint8)
    gts[2, 2:8, 2:8] = 1  # two regions in image 2
    gts[2, 14:20, 14:18] = 1
    gts[4, 10:14, 10:14] = 1
    maps = rng.random((n, H, W)) * 0.3
    maps[2, 2:8, 2:8] += 1.0  # region 1: strong
    maps[2, 14:20, 14:18] += 0.5  # region 2: weak
    maps[4, 10:14, 10:14] += 0.05  # a barely visible anomaly (missed)
    maps[1, 0:3, 0:3] += 0.6  # a normal image with a hot spot (false positive)
    labels = np.array([0, 0, 1, 0, 1, 0])
    scores = maps.reshape(n, -1).max(1)
    return images, gts, maps, scores, labels


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def n_contours(fig: Figure) -> int:
    return sum(isinstance(c, ContourSet) for ax in fig.axes for c in ax.collections)


# --- browse_by_score ------------------------------------------------------------------------------


def test_ranking(data):
    *_, scores, labels = data
    assert widgets.ranking(scores).tolist() == np.argsort(-scores, kind="stable").tolist()
    assert widgets.ranking(scores, order="lowest first").tolist() == np.argsort(scores, kind="stable").tolist()
    fp = widgets.ranking(scores, labels, "worst false positives")
    assert set(fp.tolist()) == {0, 1, 3, 5} and fp[0] == 1
    assert widgets.ranking(scores, labels, "missed anomalies").tolist() == [4, 2]
    with pytest.raises(ValueError):
        widgets.ranking(scores, None, "normal")


@needs_ipywidgets
def test_browse_by_score_rank_order_and_filters(data):
    images, gts, maps, scores, labels = data
    view = widgets.browse_by_score(images, maps, scores, gts=gts, labels=labels, names=[f"f{i}.png" for i in range(6)])
    assert isinstance(view, widgets.BrowseByScore)
    by_score = np.argsort(-scores, kind="stable")
    assert view.state["ranking"] == by_score.tolist()
    assert view.index == by_score[0] == 2
    view.rank.value = 3
    assert view.index == by_score[2]
    assert f"image #{view.index}" in view.figure.axes[0].get_title() and "rank 3/6" in view.figure.axes[0].get_title()
    assert f"f{view.index}.png" in view.info.value
    view.order.value = "lowest first"  # resets to rank 1
    assert view.state["rank"] == 1 and view.index == int(np.argmin(scores))
    view.subset.value = "missed anomalies"
    assert view.order.value == "lowest first" and view.state["ranking"] == [4, 2] and view.index == 4
    view.subset.value = "worst false positives"
    assert view.order.value == "highest first" and view.index == 1 and view.rank.max == 4
    view.rank.value = 4
    assert view.index == view.state["ranking"][-1]
    view.subset.value = "anomalous"  # a smaller subset: the slider shrinks, rank restarts
    assert view.rank.max == 2 and view.state["rank"] == 1 and view.index == 2


@needs_ipywidgets
def test_browse_norm_and_toggles(data):
    images, gts, maps, scores, labels = data
    view = widgets.browse_by_score(images, maps, scores, gts=gts, labels=labels)
    lo, hi = viz.global_range(maps)
    assert viz.norm_label("global", lo, hi, viz.HEATMAP_CMAP) in texts(view.figure)
    assert n_contours(view.figure) == 1  # image 2 is on display: its GT outline
    view.norm.value = "per_image"
    assert "norm: per-image min-max" in texts(view.figure)
    view.contours.value = False
    assert n_contours(view.figure) == 0
    view.overlay.value = False
    assert "heatmap hidden" in texts(view.figure) and len(view.figure.axes[0].images) == 1


@needs_ipywidgets
def test_browse_empty_subset_and_threshold(data):
    images, gts, maps, scores, _ = data
    view = widgets.browse_by_score(images, maps, scores, gts=gts, labels=np.zeros(6, int), threshold=0.9)
    assert "prediction" in texts(view.figure)
    view.subset.value = "anomalous"
    assert view.index is None and "no images" in texts(view.figure)


# --- threshold_explorer ---------------------------------------------------------------------------


@needs_ipywidgets
def test_threshold_explorer_live_overlap(data):
    images, gts, maps, *_ = data
    view = widgets.threshold_explorer(images[2], maps[2], gts[2])
    assert isinstance(view, widgets.ThresholdExplorer)
    assert view.threshold.value == pytest.approx((maps[2].min() + maps[2].max()) / 2)
    view.threshold.value = 0.4  # above the noise, below both regions
    np.testing.assert_allclose(view.state["overlaps"], [1.0, 1.0])
    assert view.state["fpr"] == 0 and view.state["pro"] == 1
    view.threshold.value = 0.9  # only the strong region survives
    np.testing.assert_allclose(view.state["overlaps"], [1.0, 0.0])
    assert view.state["pro"] == pytest.approx(0.5)
    assert "region 1: 100.0%" in view.info.value and "region 2: 0.0%" in view.info.value
    view.threshold.value = 0.2  # noise creeps in
    fpr_low = view.state["fpr"]
    view.threshold.value = 0.1
    assert view.state["fpr"] > fpr_low > 0
    assert "PRO (mean) 1.000" in texts(view.figure)
    assert n_contours(view.figure) == 2  # GT + prediction
    view.contours.value = False
    assert n_contours(view.figure) == 0


@needs_ipywidgets
def test_threshold_explorer_per_scale(data):
    images, gts, maps, *_ = data
    levels = {"layer1": maps[2] * 2, "layer2": maps[2][::2, ::2]}
    view = widgets.threshold_explorer(images[2], maps[2], gts[2], per_scale=levels)
    assert list(view.scale.options) == ["combined", "layer1", "layer2"]
    view.threshold.value = view.threshold.min + 0.75 * (view.threshold.max - view.threshold.min)
    view.scale.value = "layer1"  # twice the range: slider follows, same relative position
    m = levels["layer1"]
    assert view.threshold.min == pytest.approx(m.min()) and view.threshold.max == pytest.approx(m.max())
    assert view.threshold.value == pytest.approx(m.min() + 0.75 * (m.max() - m.min()), rel=1e-3)
    assert view.state["map"] == "layer1"
    assert view.state["threshold"] == pytest.approx(view.threshold.value)
    view.scale.value = "layer2"  # half resolution, upsampled to the GT's size
    assert view.current_map().shape == (H, W) and view.state["n_regions"] == 2


@needs_ipywidgets
def test_threshold_explorer_normal_image(data):
    images, gts, maps, *_ = data
    view = widgets.threshold_explorer(images[0], maps[0], gts[0], threshold=0.25)
    assert view.state["n_regions"] == 0 and "no ground-truth regions" in view.info.value


# --- compare_methods ------------------------------------------------------------------------------


@needs_ipywidgets
def test_compare_methods_shared_normalisation(data):
    images, gts, maps, *_ = data
    methods = {"RD": maps[2], "MRKD": maps[2] * 2, "DAF": maps[2] + 5}
    view = widgets.compare_methods(images[2], gts[2], methods)
    assert (view.state["left"], view.state["right"]) == ("RD", "MRKD")
    lo, hi = viz.global_range([methods["RD"], methods["MRKD"]])
    assert (view.state["vmin"], view.state["vmax"]) == pytest.approx((lo, hi))
    assert viz.norm_label("global", lo, hi) in texts(view.figure)
    titles = [ax.get_title() for ax in view.figure.axes]
    assert "A: RD" in titles and "B: MRKD" in titles
    view.right.value = "DAF"
    assert view.state["vmax"] == pytest.approx(methods["DAF"].max())
    view.norm.value = "per_image"
    assert view.state["vmin"] is None and "per-image" in texts(view.figure)
    assert "not</b> comparable" in view.info.value
    view.contours.value = False
    assert n_contours(view.figure) == 0
    view.left.value = "DAF"  # the same method on both sides is allowed
    assert view.state["left"] == view.state["right"] == "DAF"


# --- static fallbacks -----------------------------------------------------------------------------


def _all_static(data):
    images, gts, maps, scores, labels = data
    return [
        widgets.browse_by_score(images, maps, scores, gts=gts, labels=labels, k=2),
        widgets.threshold_explorer(images[2], maps[2], gts[2], thresholds=[0.4, 0.9]),
        widgets.compare_methods(images[2], gts[2], {"RD": maps[2], "MRKD": maps[2] * 2}),
        widgets.pro_curve_explorer(images, maps, gts, k=2),
    ]


def _check_static(figs, reason, tmp_path):
    for k, fig in enumerate(figs):
        assert isinstance(fig, Figure)
        assert reason in fig.adlib_static and f"static view ({reason})" in texts(fig)
        path = viz.save_figure(fig, tmp_path / f"static_{k}.png", dpi=40)
        assert path.stat().st_size > 2000


def test_static_argument(data, tmp_path):
    images, gts, maps, scores, labels = data
    fig = widgets.browse_by_score(images, maps, scores, gts=gts, labels=labels, k=2, static=True)
    assert "worst false positives" in texts(fig) and "missed anomalies" in texts(fig)
    assert "#1 · score" in texts(fig) and "#4 · score" in texts(fig)
    fig2 = widgets.threshold_explorer(images[2], maps[2], gts[2], thresholds=[0.4, 0.9], static=True)
    assert "PRO (mean) 1.000" in texts(fig2) and "PRO (mean) 0.500" in texts(fig2)
    fig3 = widgets.compare_methods(images[2], gts[2], {"RD": maps[2], "MRKD": maps[2] * 2}, static=True)
    assert "MRKD" in texts(fig3)
    _check_static([fig, fig2, fig3], "static=True", tmp_path)


@needs_ipywidgets
def test_static_env(data, tmp_path, monkeypatch):
    monkeypatch.setenv(STATIC_ENV, "1")
    assert widgets.static_reason() == f"{STATIC_ENV}=1"
    assert widgets.static_reason(static=False) is None  # an explicit request wins over the env
    _check_static(_all_static(data), f"{STATIC_ENV}=1", tmp_path)


def test_static_without_ipywidgets(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets → ImportError
    assert widgets.static_reason() == "ipywidgets is not installed"
    # the package itself imports without ipywidgets
    for name in [m for m in sys.modules if m == "adlib.widgets" or m.startswith("adlib.widgets.")]:
        monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("adlib.widgets")
    assert fresh.static_reason(static=False) == "ipywidgets is not installed"
    _check_static(_all_static(data), "ipywidgets is not installed", tmp_path)


@needs_ipywidgets
def test_pro_curve_explorer_operating_points(data, tmp_path):
    from adlib.metrics import pro_curve

    images, gts, maps, scores, labels = data
    view = widgets.pro_curve_explorer(images, maps, gts, fpr=0.05, k=2, static=False)
    s = view.state
    fpr, pro = (c.numpy() for c in pro_curve(maps, gts))
    assert np.interp(s["fpr"], fpr, pro) == pytest.approx(s["pro"])  # a point of the exact (staircase) curve
    assert abs(s["fpr"] - 0.05) < 0.002
    for i in (2, 4):  # each image's PRO at the set threshold = the single-image threshold view's
        assert s["image_pro"][i] == pytest.approx(viz.threshold_stats(maps[i], gts[i], s["threshold"])["pro"])
    assert np.isnan(s["image_pro"][0]) and s["indices"] == [4, 2]  # the barely visible defect first
    assert "regions less than half covered" in view.info.value
    t = s["threshold"]
    view.fpr.value = 0.003  # fewer false alarms allowed → a higher threshold, the hot spot dominates
    assert view.state["threshold"] > t and view.state["fpr"] < s["fpr"]
    view.selection.value = "most false positives"
    assert view.state["indices"][0] == 1
    view.contours.value = False
    assert n_contours(view.figure) == 0
    assert viz.save_figure(view.figure, tmp_path / "pro.png", dpi=40).stat().st_size > 2000
    static = widgets.pro_curve_explorer(images, maps, gts, k=2, static=True)
    assert all(f"set FPR {f:g}" in texts(static) for f in (0.01, 0.05, 0.3))
    viz.close_figure(static)


@needs_ipywidgets
def test_widget_figures_render(data, tmp_path):
    images, gts, maps, scores, labels = data
    view = widgets.threshold_explorer(images[2], maps[2], gts[2])
    assert viz.save_figure(view.figure, tmp_path / "view.png", dpi=40).stat().st_size > 2000
    assert view.ui is not None and view.output in view.ui.children


@needs_ipywidgets
def test_views_accept_torch_batches(data):
    import torch

    images, gts, maps, scores, labels = data
    imgs = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # B×3×H×W in [0, 1]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    view = widgets.browse_by_score((imgs - mean) / std, torch.from_numpy(maps)[:, None], torch.from_numpy(scores),
                                   gts=torch.from_numpy(gts)[:, None].float(), labels=torch.from_numpy(labels))
    assert view.index == 2 and n_contours(view.figure) == 1
    shown = view.figure.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, images[2] / 255, atol=1e-5)  # denormalised for display
