"""adlib.viz: every figure renders headless to a PNG and says what it shows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from adlib import viz  # noqa: E402
from adlib.data.transforms import to_float_image  # noqa: E402

H = W = 32


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a test left pyplot figures open"


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    images = (rng.random((4, H, W, 3)) * 255).astype(np.uint8)
    gts = np.zeros((4, H, W), np.uint8)
    gts[1, 4:10, 4:10] = 1
    gts[2, 20:28, 3:9] = 1
    gts[2, 2:6, 24:30] = 1
    maps = rng.random((4, H, W)) * 0.2
    maps[gts > 0] += 1.0
    return images, gts, maps


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def save(fig: Figure, tmp_path, name: str) -> tuple[int, int]:
    path = viz.save_figure(fig, tmp_path / name, dpi=50)
    assert path.exists() and path.stat().st_size > 2000
    with Image.open(path) as img:
        assert img.format == "PNG" and min(img.size) > 50
        return img.size


def contour_sets(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


# --- conversion helpers ------------------------------------------------------------------------


def test_as_rgb_accepts_every_layout(data):
    images = data[0]
    u8 = images[0]
    expected = u8.astype(np.float32) / 255
    chw_norm = to_float_image(torch.from_numpy(u8).permute(2, 0, 1))  # the sample schema
    np.testing.assert_allclose(viz.as_rgb(chw_norm), expected, atol=1e-5)
    np.testing.assert_allclose(viz.as_rgb(chw_norm.numpy()), expected, atol=1e-5)
    np.testing.assert_allclose(viz.as_rgb(u8), expected)
    np.testing.assert_allclose(viz.as_rgb(expected), expected)
    chw01 = torch.from_numpy(expected).permute(2, 0, 1)
    np.testing.assert_allclose(viz.as_rgb(chw01, imagenet=False), expected, atol=1e-6)
    assert viz.as_rgb(u8[..., 0]).shape == (H, W, 3)
    with pytest.raises(ValueError):
        viz.as_rgb(np.zeros((4, 5, 6, 7)))


def test_as_map_and_mask_squeeze_schema_shapes():
    m = torch.rand(1, 1, H, W)
    assert viz.as_map(m).shape == (H, W)
    mask = torch.zeros(1, H, W)
    mask[0, 3, 4] = 1.0
    got = viz.as_mask(mask)
    assert got.dtype == bool and got.sum() == 1 and got[3, 4]
    assert viz.as_mask(np.full((H, W), 255, np.uint8)).all()


def test_global_range_pools_all_maps(data):
    maps = data[2]
    lo, hi = viz.global_range(maps)
    assert (lo, hi) == (maps.min(), maps.max())
    assert viz.global_range(torch.from_numpy(maps)[:, None]) == pytest.approx((lo, hi))
    assert viz.global_range({"a": maps[:2], "b": list(maps[2:])}) == pytest.approx((lo, hi))
    q_lo, q_hi = viz.global_range(maps, q=(0.1, 0.9))
    assert lo < q_lo < q_hi < hi


# --- overlays -----------------------------------------------------------------------------------


def test_overlay_writes_normalisation_and_draws_contours(data, tmp_path):
    images, gts, maps = data
    lo, hi = viz.global_range(maps)
    fig = viz.overlay_heatmap(images[1], maps[1], norm="global", vmin=lo, vmax=hi, gt=gts[1],
                              pred=maps[1] > 0.5, title="sample 1")
    ax = fig.axes[0]
    words = texts(fig)
    assert viz.norm_label("global", lo, hi, "inferno") in words  # "norm: global [lo, hi] · cmap: inferno" (the default)
    assert viz.norm_label("global", 0.12, 0.87, "jet") == "norm: global [0.12, 0.87] · cmap: jet"
    assert len(contour_sets(ax)) == 2  # GT and prediction
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["ground truth", "prediction"]
    assert len(fig.axes) == 2  # image + colour bar
    save(fig, tmp_path, "overlay.png")


def test_overlay_without_masks_has_no_contours(data):
    images, _, maps = data
    fig = viz.overlay_heatmap(images[0], maps[0], gt=np.zeros((H, W)))  # empty GT: nothing to outline
    assert contour_sets(fig.axes[0]) == [] and fig.axes[0].get_legend() is None
    assert "norm: per-image min-max" in texts(fig)
    fig = viz.overlay_heatmap(images[1], maps[1], gt=data[1][1], contours=False, overlay=False)
    assert contour_sets(fig.axes[0]) == [] and "heatmap hidden" in texts(fig)


def test_overlay_accepts_schema_tensors(data):
    images, gts, maps = data
    img = to_float_image(torch.from_numpy(images[1]).permute(2, 0, 1))
    fig = viz.overlay_heatmap(img, torch.from_numpy(maps[1])[None], gt=torch.from_numpy(gts[1]).float()[None])
    assert len(contour_sets(fig.axes[0])) == 1


def test_norm_arguments_are_explicit(data):
    images, _, maps = data
    with pytest.raises(ValueError, match="global_range"):
        viz.overlay_heatmap(images[0], maps[0], norm="global")
    with pytest.raises(ValueError):
        viz.overlay_heatmap(images[0], maps[0], norm="per_image", vmin=0, vmax=1)
    with pytest.raises(ValueError):
        viz.overlay_heatmap(images[0], maps[0], norm="minmax")
    fig = viz.overlay_heatmap(images[0], maps[0], norm="fixed", vmin=0, vmax=2, cmap="inferno")
    assert "norm: fixed [0, 2] · cmap: inferno" in texts(fig)


def test_global_and_per_image_normalisation_differ(data):
    """Per-image min-max stretches a normal map over the whole colormap; a global range keeps it cold."""
    images, _, maps = data
    normal = maps[0]
    lo, hi = viz.global_range(maps)
    per_image = viz.overlay_heatmap(images[0], normal).axes[0].images[1].get_array()
    global_ = viz.overlay_heatmap(images[0], normal, norm="global", vmin=lo, vmax=hi).axes[0].images[1].get_array()
    np.testing.assert_allclose(global_, viz.heatmap_rgba(normal, lo, hi))
    np.testing.assert_allclose(per_image, viz.heatmap_rgba(normal))
    assert not np.allclose(per_image, global_)
    cmap = matplotlib.colormaps[viz.HEATMAP_CMAP]  # the default colour map (perceptually uniform)
    hottest = np.asarray(cmap(1.0))[:3]
    # per-image: the normal map's maximum gets the hottest colour; globally it stays far from it
    assert np.isclose(np.abs(per_image[..., :3] - hottest).sum(-1).min(), 0, atol=1e-6)
    assert np.abs(global_[..., :3] - hottest).sum(-1).min() > 0.5


def test_heatmap_rgba_and_add_contours_helpers(data):
    _, gts, maps = data
    rgba = viz.heatmap_rgba(maps[1], 0.0, 1.0, alpha=0.3)
    assert rgba.shape == (H, W, 4) and np.all(rgba[..., 3] == 0.3)
    assert np.all((rgba >= 0) & (rgba <= 1))
    fig = viz.new_figure()
    ax = fig.add_subplot()
    ax.imshow(np.zeros((64, 64)))
    cs = viz.add_contours(ax, gts[1], color="red", label="gt", frame_shape=(64, 64))  # mask at half resolution
    assert isinstance(cs, ContourSet)
    verts = np.concatenate([p.vertices for p in cs.get_paths()])
    assert 6 < verts[:, 0].min() < 9 and 18 < verts[:, 0].max() < 21  # stretched to the 64×64 frame
    assert viz.add_contours(ax, np.zeros((H, W))) is None


def test_draws_into_given_axes_and_save_closes_pyplot_figures(data, tmp_path):
    images, gts, maps = data
    fig, ax = plt.subplots()
    assert viz.overlay_heatmap(images[1], maps[1], gt=gts[1], ax=ax, colorbar=False) is fig
    assert viz.save_figure(fig, tmp_path / "sub" / "mine").name == "mine.png"
    assert plt.get_fignums() == []  # save_figure closes pyplot figures


def test_figures_are_not_tracked_by_pyplot_and_display_as_png(data):
    images, gts, maps = data
    fig = viz.overlay_heatmap(images[1], maps[1], gt=gts[1])
    assert plt.get_fignums() == []
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.figure_png(fig)[:4] == b"\x89PNG"


# --- grids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["per_method", "global", "per_image", "fixed"])
def test_comparison_grid(data, tmp_path, norm):
    images, gts, maps = data
    methods = {"RD": maps, "MRKD": list(maps * 3)}
    kw = dict(vmin=0.0, vmax=1.0) if norm == "fixed" else {}
    fig = viz.comparison_grid(images, gts, methods, titles=list("abcd"), norm=norm, **kw)
    image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 4 * 4
    assert [ax.get_title() for ax in image_axes[:4]] == ["input", "ground truth", "RD", "MRKD"]
    head = fig._suptitle.get_text()
    assert head.startswith("norm:") and {"per_method": "per-method", "global": "global", "fixed": "fixed",
                                         "per_image": "per-image"}[norm] in head
    n_colorbars = {"per_method": 2, "global": 1, "fixed": 1, "per_image": 0}[norm]
    assert len(fig.axes) - len(image_axes) == n_colorbars
    assert sum(len(contour_sets(ax)) for ax in image_axes) == 2 * 2  # 2 anomalous rows × 2 methods
    if norm == "global":
        lo, hi = viz.global_range(methods)
        assert viz.norm_label("global", lo, hi) in head
    save(fig, tmp_path, f"grid_{norm}.png")


def test_comparison_grid_checks_lengths(data):
    images, gts, maps = data
    with pytest.raises(ValueError, match="maps"):
        viz.comparison_grid(images, gts, {"RD": maps[:2]})
    fig = viz.comparison_grid(torch.rand(2, 3, H, W), None, {"RD": torch.rand(2, 1, H, W)})
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 2 * 2


def test_per_scale_maps(data, tmp_path):
    images, gts, maps = data
    levels = [maps[1], maps[1][::2, ::2], maps[1][::4, ::4]]
    fig = viz.per_scale_maps(levels, image=images[1], gt=gts[1], names=["layer1", "layer2", "layer3"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["layer1 (32×32)", "layer2 (16×16)", "layer3 (8×8)", "sum of 3 levels"]
    assert "norm: per-map min-max" in fig._suptitle.get_text()
    total = sum(viz.upsample_map(m, (H, W)) for m in levels)
    assert f"[{total.min():.3g}, {total.max():.3g}]" in texts(fig)
    save(fig, tmp_path, "per_scale.png")
    fig = viz.per_scale_maps(levels[1:], norm="shared", combine="product")
    assert "share one range" in fig._suptitle.get_text()
    save(fig, tmp_path, "per_scale_maps_only.png")


def test_upsample_map_aligns_corners():
    m = np.array([[0.0, 1.0], [2.0, 3.0]])
    up = viz.upsample_map(m, (3, 3))
    assert up[0, 0] == 0 and up[-1, -1] == 3 and up[1, 1] == pytest.approx(1.5)
    ref = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(5, 7), mode="bilinear",
                                          align_corners=True)[0, 0].numpy()
    np.testing.assert_allclose(viz.upsample_map(m, (5, 7)), ref, atol=1e-12)


def test_gallery(data, tmp_path):
    images, gts, maps = data
    scores = maps.reshape(4, -1).max(1)
    fig = viz.gallery(images, maps, {"top": [2, 1], "missed": [], "normal": [0]}, scores=scores,
                      labels=[0, 1, 1, 0], gts=gts, title="hello")
    words = texts(fig)
    assert "hello" in words and "norm: global" in words and f"#2 · score {scores[2]:.3g}" in words
    assert "anomalous" in words and "(none)" in words
    save(fig, tmp_path, "gallery.png")


def test_threshold_stats_and_figure(data, tmp_path):
    images, gts, maps = data
    amap = np.zeros((H, W))
    amap[20:28, 3:6] = 1.0  # half of region 1 (columns 3..8), nothing of region 2
    amap[0, 0] = 1.0  # one false positive pixel
    s = viz.threshold_stats(amap, gts[2], 0.5)
    np.testing.assert_allclose(s["overlaps"], [0.0, 0.5])  # regions numbered in raster order
    assert s["n_regions"] == 2 and s["pro"] == pytest.approx(0.25)
    assert s["fpr"] == pytest.approx(1 / (H * W - gts[2].sum()))
    fig = viz.threshold_figure(images[2], amap, gts[2], 0.5)
    words = texts(fig)
    assert "PRO (mean) 0.250" in words and "pixel FPR" in words and "norm: per-image" in words
    assert "region 2" in words and "50%" in words
    save(fig, tmp_path, "threshold.png")
    normal = viz.threshold_figure(images[0], maps[0], gts[0], 0.1)
    assert "no ground-truth regions" in texts(normal)


# --- distributions, features, curves, tables ------------------------------------------------------


def test_score_distributions(tmp_path):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    scores = np.r_[rng.normal(0, 1, 50), rng.normal(2, 1, 30)]
    labels = np.r_[np.zeros(50), np.ones(30)]
    fig = viz.score_distributions(torch.from_numpy(scores), labels, threshold=1.0)
    ax = fig.axes[0]
    assert f"AUROC {roc_auc_score(labels, scores):.3f}" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "normal (n=50)" in legend and "anomalous (n=30)" in legend
    assert len(ax.lines) >= 3  # two KDEs + threshold
    save(fig, tmp_path, "scores.png")
    only_normal = viz.score_distributions(scores[:50], labels[:50])
    assert "AUROC" not in only_normal.axes[0].get_title()


def test_score_distributions_grid(tmp_path):
    rng = np.random.default_rng(2)
    data = {c: (rng.random(20) + np.r_[np.zeros(10), np.ones(10)] * k, np.r_[np.zeros(10), np.ones(10)])
            for k, c in enumerate(["bottle", "cable", "grid"])}
    fig = viz.score_distributions_grid(data, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert len(titles) == 3 and titles[0].startswith("bottle")
    save(fig, tmp_path, "scores_grid.png")


def test_feature_pca_rgb_shapes_range_and_consistency():
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(3, 16, 8, 8)).astype(np.float32)
    feats[1] = feats[0]  # an identical image
    rgb = viz.feature_pca_rgb(feats)
    assert rgb.shape == (3, 8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(rgb[0], rgb[1])  # one joint PCA: identical features, identical colours
    single = viz.feature_pca_rgb(torch.from_numpy(feats[2]))
    assert single.shape == (8, 8, 3)
    # identical feature vectors within an image get identical colours
    f = feats[2].copy()
    f[:, 5, 5] = f[:, 0, 0]
    out = viz.feature_pca_rgb(f)
    np.testing.assert_array_equal(out[5, 5], out[0, 0])
    # the first component follows the dominant direction (a strong ramp in channel 0)
    ramp = np.linspace(-10, 10, 8)[None, :].repeat(8, 0)
    g = rng.normal(size=(4, 8, 8)) * 0.1
    g[0] += ramp
    red = viz.feature_pca_rgb(g, q=(0, 1))[..., 0]
    assert abs(np.corrcoef(red.ravel(), ramp.ravel())[0, 1]) > 0.99
    assert viz.feature_pca_rgb(rng.normal(size=(2, 4, 4))).shape == (4, 4, 3)  # fewer than 3 channels


def test_pca_figure(data, tmp_path):
    images = data[0][:2]
    feats = torch.randn(2, 8, 8, 8)
    fig = viz.pca_figure(images, {"teacher": feats, "student": feats + 0.1})
    assert [ax.get_title() for ax in fig.axes[:3]] == ["input", "teacher", "student"]
    assert "principal components" in fig._suptitle.get_text()
    save(fig, tmp_path, "pca.png")
    with pytest.raises(ValueError):
        viz.pca_figure(images, torch.randn(3, 8, 4, 4))


def test_roc_curve_figure(tmp_path):
    x = np.linspace(0, 1, 101)
    fig = viz.roc_curve_figure({"perfect-ish": (x, np.sqrt(x)), "chance": (torch.from_numpy(x), x)})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == f"perfect-ish (AUROC {np.trapezoid(np.sqrt(x), x):.3f})"
    assert legend[1] == "chance (AUROC 0.500)"
    fig2 = viz.roc_curve_figure({"reported": (x, x, 0.7)})
    assert "AUROC 0.700" in texts(fig2)
    save(fig, tmp_path, "roc.png")
    save(fig2, tmp_path, "roc2.png")


def test_pro_curve_figure_and_area(tmp_path):
    x = np.linspace(0, 1, 11)
    assert viz.area_up_to(x, x, 0.3) == pytest.approx(0.15)  # ∫0^0.3 x dx / 0.3
    assert viz.area_up_to(x, np.ones_like(x), 0.25) == pytest.approx(1.0)  # limit between points
    assert viz.area_up_to(x, x, 0.3, normalize=False) == pytest.approx(0.045)
    fig = viz.pro_curve_figure({"A": (x, x), "B": (x, np.minimum(1, 3 * x))}, fpr_limit=0.3)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "A (AUPRO@0.3 0.150)"
    assert len(ax.collections) == 2  # one shaded area per curve
    shaded = ax.collections[0].get_paths()[0].vertices
    assert shaded[:, 0].max() == pytest.approx(0.3)
    assert "FPR limit 0.3" in texts(fig) and "shaded" in ax.get_title()
    save(fig, tmp_path, "pro.png")


def test_results_heatmap_from_plain_dicts(tmp_path):
    table = {
        "bottle": {"RD": 99.1, "MRKD": (99.5, 0.2), "DAF": None},
        "cable": {"RD": 95.0, "MRKD": (97.0, 0.4), "DAF": 96.0},
        "grid": {"RD": 98.0, "MRKD": {"mean": 97.5, "std": 0.1}},
    }
    fig = viz.results_heatmap(table, "image AUROC (%)")
    ax = fig.axes[0]
    cells = {t.get_text(): t for t in ax.texts}
    assert {"99.1", "99.5±0.2", "96.0", "97.5±0.1"} <= set(cells)
    assert cells["99.5±0.2"].get_fontweight() == "bold" and cells["99.1"].get_fontweight() == "normal"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bottle", "cable", "grid", "mean"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["RD", "MRKD", "DAF"]
    assert f"{np.mean([99.5, 97.0, 97.5]):.1f}" in cells  # MRKD mean row
    assert "image AUROC (%)" in texts(fig)
    save(fig, tmp_path, "results.png")
    plain = viz.results_heatmap(table, "%", mark_best=False)
    assert all(t.get_fontweight() == "normal" for t in plain.axes[0].texts)
    cats, meths, means, stds = viz.table_arrays(table)
    assert np.isnan(means[0, 2]) and stds[1, 1] == pytest.approx(0.4)


def test_low_resolution_map_is_stretched_onto_the_image(data):
    images, gts, maps = data
    small = maps[1][::2, ::2]  # 16×16 map, e.g. before upsampling, on a 32×32 image
    fig = viz.overlay_heatmap(images[1], small, gt=gts[1], pred=small > 0.5)
    ax = fig.axes[0]
    assert ax.images[0].get_extent() == ax.images[1].get_extent() == [-0.5, W - 0.5, H - 0.5, -0.5]
    pred_verts = np.concatenate([p.vertices for p in contour_sets(ax)[1].get_paths()])
    assert pred_verts[:, 0].max() > 8  # in image pixels, not map pixels


def test_paper_vs_ours_same_and_other_data(tmp_path):
    ours = {"rd": (98.5, 0.7, 2), "rd_var": (99.5, None, 1)}
    same = viz.paper_vs_ours(ours, {"rd": 98.9, "rd_var": 99.9}, "image_auroc", same_data=True,
                             ours_label="mvtec_ad, carpet", table="Table I")
    assert len(same.axes) == 1
    words = "\n".join(t.get_text() for t in same.findobj(Text))
    assert "98.5 (-0.4)" in words and "99.5 (-0.4)" in words and "same data" in words
    other = viz.paper_vs_ours(ours, {"rd": 98.5, "rd_var": 99.2, "rd++": 99.4}, "image_auroc")
    assert len(other.axes) == 2 and "different data" in other.get_suptitle()
    ticks = [t.get_text() for t in other.axes[1].get_xticklabels()]
    assert ticks == ["rd", "rd_var", "rd++"]  # the paper's extra setting has a slot on both sides
    none = viz.paper_vs_ours(ours, {}, "aupro")
    assert "no numbers" in "\n".join(t.get_text() for t in none.axes[0].texts)
    viz.save_figure(other, tmp_path / "pvo.png")
    assert (tmp_path / "pvo.png").stat().st_size > 0
    with pytest.raises(ValueError, match="at least one setting"):
        viz.paper_vs_ours({}, {}, "aupro")


def test_points_formats_fractions_and_missing_values():
    from adlib.viz import points

    assert points(0.9123) == "  91.2" and points(1.0, 5) == "100.0" and points(0.5, 4, 0) == "  50"
    assert points(None) == "   n/a" and len(points(None, 11)) == 11
