"""The synthesis strategies of DAF and DM-GRD (adlib.synthesis.{perlin,textures,dra,simple,cutpaste,
fourier_perlin,strategies}), each test aimed at a likely mistake."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from PIL import Image

from adlib.synthesis import (
    STRATEGY_NAMES,
    MissingTexturesError,
    NSA,
    SyntheticAnomalies,
    TextureSource,
    amplitude_mix,
    build_strategy,
    needs_textures,
    nsa_paper_config,
    perlin_mask,
    perlin_noise,
    random_perlin,
    texture_source,
)
from adlib.synthesis import texture_aug
from adlib.synthesis.base import blend
from adlib.synthesis.fourier import window_slices
from adlib.synthesis.shapes import random_box

S = 64


def tile(seed=0, size=S, grey=False):
    """A textured image with enough structure that every paste changes pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = 120 + 50 * np.sin(x / 2.5 + rng.uniform(0, 6)) * np.cos(y / 4.0 + rng.uniform(0, 6))
    chans = [base + rng.normal(0, 10, base.shape) for _ in range(1 if grey else 3)]
    img = np.clip(np.stack(chans, axis=-1), 0, 255).astype(np.uint8)
    return np.repeat(img, 3, axis=-1) if grey else img


def build(name, **options):
    return build_strategy(name, image_size=S, texture_source="procedural", **options)


def run(strategy, seed, dest=None, src=None):
    dest = tile(0) if dest is None else dest
    src = tile(1) if src is None and strategy.needs_source else src
    return strategy(dest, src, np.random.default_rng(seed))


class Flat(TextureSource):
    """A texture source of one known colour (to read β and the fill back from the output)."""

    name = "flat"

    def __init__(self, value=255):
        self.value = value

    def sample(self, rng, size):
        return np.full((*size, 3), self.value, np.uint8)


# -- Perlin ----------------------------------------------------------------------------------------
def draem_perlin(shape, res, angles):
    """DRAEM's ``rand_perlin_2d_np`` written out (np.mgrid grid, tiled gradients, lerps)."""
    delta = (res[0] / shape[0], res[1] / shape[1])
    d = (shape[0] // res[0], shape[1] // res[1])
    grid = np.mgrid[0:res[0]:delta[0], 0:res[1]:delta[1]].transpose(1, 2, 0) % 1
    grads = np.stack((np.cos(angles), np.sin(angles)), axis=-1)

    def tiled(a, b):
        return np.repeat(np.repeat(grads[a[0]:a[1], b[0]:b[1]], d[0], axis=0), d[1], axis=1)

    def dot(grad, shift):
        g = grid[:shape[0], :shape[1]]
        return ((g + np.asarray(shift)) * grad[:shape[0], :shape[1]]).sum(axis=-1)

    n00, n10 = dot(tiled([0, -1], [0, -1]), [0, 0]), dot(tiled([1, None], [0, -1]), [-1, 0])
    n01, n11 = dot(tiled([0, -1], [1, None]), [0, -1]), dot(tiled([1, None], [1, None]), [-1, -1])
    t = grid[:shape[0], :shape[1]]
    t = 6 * t**5 - 15 * t**4 + 10 * t**3
    lerp = lambda a, b, w: (b - a) * w + a  # noqa: E731
    return math.sqrt(2) * lerp(lerp(n00, n10, t[..., 0]), lerp(n01, n11, t[..., 0]), t[..., 1])


@pytest.mark.parametrize("res", [(1, 1), (2, 8), (32, 4)])
def test_perlin_equals_the_draem_formula_and_crops_other_sizes(res):
    angles = 2 * np.pi * np.random.default_rng(3).random((res[0] + 1, res[1] + 1))
    np.testing.assert_allclose(perlin_noise((S, S), res, angles=angles), draem_perlin((S, S), res, angles), atol=1e-6)
    # a size the lattice does not divide: DRAEM's noise at the next multiple, cropped
    padded = (-(-50 // res[0]) * res[0], -(-70 // res[1]) * res[1])
    np.testing.assert_allclose(perlin_noise((50, 70), res, angles=angles),
                               draem_perlin(padded, res, angles)[:50, :70], atol=1e-6)


def test_perlin_statistics_are_sane():
    rng = np.random.default_rng(0)
    draws = [random_perlin((S, S), rng) for _ in range(200)]
    values = np.stack(draws)
    assert values.dtype == np.float32 and np.abs(values).max() <= 1.0 + 1e-5  # √2 × [−√½, √½]
    assert abs(values.mean()) < 0.05 and values.std() > 0.1
    assert all(d.std() > 0 for d in draws)  # never constant
    masks = values > 0.5
    assert 0.01 < masks.mean() < 0.2 and 0.5 < np.mean([m.any() for m in masks]) < 1.0  # some are empty
    # finer lattices are rougher (the scales are actually used)
    rough = [np.abs(np.diff(perlin_noise((S, S), (r, r), rng), axis=1)).mean() for r in (1, 4, 32)]
    assert rough[0] < rough[1] < rough[2]
    a, b = perlin_mask((S, S), np.random.default_rng(9)), perlin_mask((S, S), np.random.default_rng(9))
    assert a.dtype == bool and np.array_equal(a, b)


# -- every strategy: determinism, shapes, labels --------------------------------------------------
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_deterministic_per_rng_and_different_across_seeds(name):
    strategy = build(name)
    (a, la), (b, lb), (c, _) = run(strategy, 5), run(strategy, 5), run(strategy, 6)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    # workers get pickled copies: same draws
    (d, ld) = run(pickle.loads(pickle.dumps(strategy)), 5)
    assert np.array_equal(a, d) and np.array_equal(la, ld)


@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_shapes_dtypes_and_labels_at_64px(name, grey):
    strategy = build(name)
    dest = tile(2, grey=grey)
    image, label = run(strategy, 1, dest, tile(3, grey=grey) if strategy.needs_source else None)
    assert image.shape == dest.shape
    assert image.dtype == (np.float32 if name == "fourier_perlin" else np.uint8)
    assert label.shape == (S, S) and label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1}
    if name != "fourier_perlin":  # DAF strategies re-draw empty labels
        assert label.any()
    if grey and name in ("cutpaste", "nsa"):  # pixels of grey images stay grey
        assert np.array_equal(image[..., 0], image[..., 2])
    out, lab = run(strategy, 1, dest[..., :1], dest[..., 1:2] if strategy.needs_source else None)
    assert out.shape == (S, S, 1) and lab.shape == (S, S)  # a single-channel image works too


@pytest.mark.parametrize("name, options", [("dra", {}), ("simple_texture", {}), ("simple_shape", {}),
                                           ("simple_texture_shape", {}), ("cutpaste", {"variant": "normal"}),
                                           ("cutpaste", {"variant": "scar"}), ("fourier_perlin", {"mode": "paper"})])
def test_nothing_changes_outside_the_label_and_the_label_changed(name, options):
    strategy = build(name, **options)
    dest = tile(4)
    inside = []
    for seed in range(6):
        image, label = run(strategy, seed, dest)
        changed = np.abs(image.astype(np.float64) - dest).max(axis=-1) > 0
        lab = label.astype(bool)
        assert not (changed & ~lab).any(), f"seed {seed}: pixels changed outside the label"
        inside.append(changed[lab].mean() if lab.any() else 1.0)
    assert np.mean(inside) > 0.8  # the label is where the synthesis acted, not a stray region


def test_dm_grd_code_mode_changes_pixels_outside_its_label_and_says_so():
    strategy = build("fourier_perlin")
    image, label = run(strategy, 2)
    outside = ~label.astype(bool)
    assert np.abs(image - tile(0))[outside].mean() > 5  # brightened by (2 − β), not a local defect
    assert "outside the mask" in strategy.describe()["label_note"]
    assert "label_note" not in build("fourier_perlin", mode="paper").describe()
    assert "label_note" not in build("dra").describe()


def test_empty_masks_are_redrawn_where_the_spec_says_so():
    once, redrawn = build("dra", max_redraws=0), build("dra")
    empty = [s for s in range(150) if not run(once, s)[1].any()]
    assert empty, "Perlin masks are sometimes empty (~4 %): the test needs such seeds"
    assert all(run(redrawn, s)[1].any() for s in empty)
    assert all(run(build("simple_texture"), s)[1].any() for s in empty)
    # DM-GRD's code does not re-draw: some labels stay empty
    fp = build("fourier_perlin", output="uint8")
    assert not all(run(fp, s)[1].any() for s in range(150))


def test_beta_range_and_opaque_paste():
    black = np.zeros((S, S, 3), np.uint8)
    betas = []
    for seed in range(120):
        image, label = build_strategy("dra", texture_source=Flat(255), augment=False)(black, None, seed)
        inside = image[label.astype(bool)].astype(np.float64)
        assert np.ptp(inside) == 0  # one β per draw
        betas.append(1 - inside[0, 0] / 255)  # P = (1 − β)·T inside the mask on a black image
    betas = np.asarray(betas)
    assert betas.min() >= -0.5 / 255 and betas.max() < 0.8 + 0.5 / 255
    assert betas.min() < 0.1 and betas.max() > 0.7  # drawn over the whole [0, 0.8) range
    image, label = build_strategy("dra", texture_source=Flat(255), augment=False, beta_max=0.0)(black, None, 0)
    assert (image[label.astype(bool)] == 255).all()  # Table VIII "without β": opaque


def test_blend_equals_the_draem_formula():
    rng = np.random.default_rng(0)
    img, tex = tile(5), rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    mask, beta = perlin_mask((S, S), rng) | (rng.random((S, S)) < 0.3), 0.37
    i, t, m = img / 255.0, tex / 255.0, mask[..., None].astype(np.float64)
    expected = i * (1 - m) + (1 - beta) * t * m + beta * i * m
    out = blend(img, tex, mask, beta)
    assert out.dtype == np.uint8 and np.abs(out / 255.0 - expected).max() <= 0.5 / 255 + 1e-9


def test_simple_fills_are_one_flat_colour_and_rectangles_one_box():
    dest = tile(6)
    for seed in range(10):
        image, label = build("simple_texture", beta_max=0.0)(dest, None, seed)
        colours = np.unique(image[label.astype(bool)], axis=0)
        assert len(colours) == 1  # constant fill before the blend
        for name in ("simple_shape", "simple_texture_shape"):
            _, box = build(name)(dest, None, seed)
            rows, cols = np.flatnonzero(box.any(1)), np.flatnonzero(box.any(0))
            assert box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()  # one axis-aligned filled box
            assert 0.02 * S * S * 0.8 <= box.sum() <= 0.15 * S * S * 1.2
    for seed in range(200):
        r0, r1, c0, c1 = random_box(np.random.default_rng(seed), 256, 256)
        area, aspect = (r1 - r0) * (c1 - c0), (c1 - c0) / (r1 - r0)
        assert 0 <= r0 < r1 <= 256 and 0 <= c0 < c1 <= 256
        assert 0.02 * 256**2 * 0.97 <= area <= 0.15 * 256**2 * 1.03 and 0.29 <= aspect <= 1 / 0.29


def test_cutpaste_pastes_pixels_of_the_same_image():
    dest = tile(7)
    image, label = build("cutpaste", jitter=0.0)(dest, None, 3)
    lab = label.astype(bool)
    rows, cols = np.flatnonzero(lab.any(1)), np.flatnonzero(lab.any(0))
    patch = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = patch.shape[:2]
    found = any(np.array_equal(patch, dest[r:r + h, c:c + w]) for r in range(S - h + 1) for c in range(S - w + 1))
    assert found, "without jitter the pasted box is a box of the same image"
    moved = [np.mean(np.any(image != dest, axis=-1)[label.astype(bool)])
             for image, label in (build("cutpaste", jitter=0.0)(dest, None, s) for s in range(6))]
    assert np.mean(moved) > 0.8  # ... cut at one place and pasted at another


def test_nsa_is_wrapped_not_copied():
    strategy = build("nsa_b")
    assert strategy.name == "nsa" and strategy.needs_source and not build("nsa", variant="code").needs_source
    dest, src = tile(8), tile(9)
    direct = [NSA(nsa_paper_config())(dest, src, np.random.default_rng(seed)) for seed in range(12)]
    full = [s for s, d in enumerate(direct) if d.label.any()]
    empty = [s for s, d in enumerate(direct) if not d.label.any()]
    assert full and empty, "mixed Poisson clones of similar tiles sometimes change nothing: the test needs both"
    image, label = strategy(dest, src, np.random.default_rng(full[0]))  # the first draw is NSA's own
    assert np.array_equal(image, direct[full[0]].image) and np.array_equal(label, direct[full[0]].label)
    assert all(strategy(dest, src, np.random.default_rng(s)).label.any() for s in empty)  # NSA_B: re-drawn
    assert build("nsa", category="bottle").describe()["options"]["mode"] == "normal"  # objects: normal clone


# -- texture sources -------------------------------------------------------------------------------
def write_images(folder, n=3, suffix=".jpg"):
    for i in range(n):
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tile(20 + i, 40)).save(folder / f"{i}{suffix}")


def test_missing_dtd_is_a_clear_error_never_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path))
    for name in ("dra", "simple_shape", "fourier_perlin"):
        with pytest.raises(MissingTexturesError, match=r"adlib data fetch dtd.*procedural"):
            build_strategy(name, texture_source="dtd")
    with pytest.raises(FileNotFoundError):  # a FileNotFoundError, for callers that catch those
        texture_source("dtd")
    # strategies without textures do not need DTD and record none
    assert build_strategy("simple_texture", texture_source="dtd").describe()["texture_source"] is None
    assert not needs_textures("simple_texture") and needs_textures("dra") and needs_textures("fourier_perlin")


def test_texture_sources_are_named_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    write_images(tmp_path / "data" / "dtd" / "images" / "banded")
    write_images(tmp_path / "data" / "dtd" / "images" / "dotted")
    dtd = texture_source("dtd")
    assert dtd.name == "dtd" and len(dtd) == 6
    a, b = dtd.sample(np.random.default_rng(1), (S, 48)), dtd.sample(np.random.default_rng(1), (S, 48))
    assert a.shape == (S, 48, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert build_strategy("dra", texture_source="dtd").describe()["texture_source"] == "dtd"
    write_images(tmp_path / "mine", suffix=".png")
    folder = texture_source(str(tmp_path / "mine"))
    assert folder.name.startswith("folder:") and folder.name.endswith("mine") and str(tmp_path) not in folder.name
    assert texture_source(f"folder:{tmp_path / 'mine'}").name == folder.name
    assert build("simple_shape").describe()["texture_source"] == "procedural"
    assert build_strategy("fourier_perlin", texture_source="self").describe()["texture_source"] == "self"
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingTexturesError):
        texture_source(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="unknown texture_source"):
        texture_source("imagenet")
    strategy = build_strategy("dra", texture_source=folder)  # picklable with its (dropped) cache
    again = pickle.loads(pickle.dumps(strategy))
    assert np.array_equal(strategy(tile(0), None, 3)[0], again(tile(0), None, 3)[0])


def test_procedural_textures_vary_and_are_deterministic():
    src = texture_source("procedural")
    draws = [src.sample(np.random.default_rng(s), (S, S)) for s in range(12)]
    assert all(d.shape == (S, S, 3) and d.dtype == np.uint8 for d in draws)
    assert np.array_equal(draws[0], src.sample(np.random.default_rng(0), (S, S)))
    assert len({d.tobytes() for d in draws}) == 12 and np.mean([d.std() for d in draws]) > 10


def test_augmenters_keep_uint8_and_pick_three_distinct_ops(monkeypatch):
    tex = tile(10)
    for op in texture_aug.AUGMENTERS:
        a, b = op(tex, np.random.default_rng(0)), op(tex, np.random.default_rng(0))
        assert a.shape == tex.shape and a.dtype == np.uint8 and np.array_equal(a, b), op.__name__
    assert np.array_equal(texture_aug.invert(tex, None), 255 - tex)
    calls = []
    recorders = tuple((lambda k: lambda img, rng: calls.append(k) or img)(k) for k in range(10))
    monkeypatch.setattr(texture_aug, "AUGMENTERS", recorders)
    for seed in range(40):
        calls.clear()
        texture_aug.augment_texture(tex, np.random.default_rng(seed))
        assert len(calls) == 3 and len(set(calls)) == 3


# -- Fourier + Perlin ------------------------------------------------------------------------------
def test_amplitude_mix_window_and_identity():
    rng = np.random.default_rng(0)
    src, tgt = rng.uniform(0, 255, (256, 256, 3)), rng.uniform(0, 255, (256, 256, 3))
    np.testing.assert_allclose(amplitude_mix(src, tgt, 0.0), src, atol=1e-6)
    rows, cols = window_slices((256, 256))
    assert (rows.stop - rows.start, cols.stop - cols.start) == (51, 51)  # 2b + 1 with b = 25
    mixed = amplitude_mix(src, tgt, 0.7)
    fs, fm = (np.fft.fftshift(np.fft.fft2(x, axes=(0, 1)), axes=(0, 1)) for x in (src, mixed))
    diff = np.abs(np.abs(fm) - np.abs(fs)).max(axis=-1) > 1e-6 * np.abs(fs).max()
    outside = np.ones((256, 256), bool)
    outside[rows, cols] = False
    assert not diff[outside].any() and diff[rows, cols].mean() > 0.9
    ok = np.abs(fs) > 1e-3
    np.testing.assert_allclose(np.angle(fm[ok]), np.angle(fs[ok]), atol=1e-6)  # phase kept


@pytest.mark.parametrize("shape", [(256, 256, 3), (64, 64, 1), (31, 31, 3), (40, 56, 3), (56, 40, 3), (2, 2, 3)])
def test_amplitude_mix_equals_the_authors_full_spectrum_form(shape):
    """The half-spectrum computation = FDA.py's fftshift / full-FFT form, to rounding: odd and even sizes,
    rectangles, no window, the widest window, weights outside [0, 1] (paper mode's γ) and a flat source (zero
    amplitudes in the window, whose phase np.angle takes as 0; where the FFT leaves rounding noise instead, that
    noise's phase is arbitrary in both forms)."""
    from adlib.synthesis.fourier import amplitude_mix_literal

    rng = np.random.default_rng(1)
    for window in (0.0, 0.1, 0.3, 0.49):
        for weight in (0.0, 0.4, 1.0, -1.3):
            src, tgt = rng.uniform(0, 255, shape), rng.uniform(0, 255, shape)
            np.testing.assert_allclose(amplitude_mix(src, tgt, weight, window),
                                       amplitude_mix_literal(src, tgt, weight, window), rtol=0, atol=1e-9)
    flat = np.full(shape, 100.0)
    spectrum = np.fft.fft2(flat, axes=(0, 1))
    spectrum[0, 0] = 0
    if not spectrum.any():  # exact zeros (else rounding noise, whose phase is arbitrary in either form)
        np.testing.assert_allclose(amplitude_mix(flat, tgt, 0.6), amplitude_mix_literal(flat, tgt, 0.6), rtol=0,
                                   atol=1e-9)


def test_fourier_perlin_code_and_paper_modes_differ_as_specified():
    grey = np.full((S, S, 3), 100, np.uint8)
    code = build_strategy("fourier_perlin", texture_source=Flat(200))
    paper = build_strategy("fourier_perlin", texture_source=Flat(200), mode="paper")
    ratios = []
    for seed in range(40):
        (a, la), (b, lb) = code(grey, None, seed), paper(grey, None, seed)
        assert not np.array_equal(a, b)
        m = la.astype(bool)
        if not m.any() or m.all():
            continue
        ratios.append(a[~m].mean() / a[m].mean())  # flat images: F_M is flat; outside = (2 − β)·F_M
        assert np.ptp(a[m]) < 1e-3 and (b[~lb.astype(bool)] == 100).all()  # paper: outside is the image
    ratios = np.asarray(ratios)
    assert len(ratios) > 20 and ratios.min() > 1.2 - 1e-4 and ratios.max() <= 2.0 + 1e-4
    bright = np.full((S, S, 3), 230, np.uint8)
    out = build("fourier_perlin", beta=0.0)(bright, None, 1)[0]
    assert out.dtype == np.float32 and out.max() > 300  # unclipped floats survive (code feeds them on)
    assert build("fourier_perlin", beta=0.0, output="uint8")(bright, None, 1)[0].max() == 255


def test_float_output_reaches_the_training_sample():
    import torch

    from adlib.data.transforms import as_input_spec, denormalize, to_float_image

    class Bright(torch.utils.data.Dataset):
        normalize = "imagenet"
        raw = torch.full((3, S, S), 230, dtype=torch.uint8)

        def __len__(self):
            return 2

        def load_raw(self, i):
            return self.raw, None, (S, S)

        def __getitem__(self, i):
            return {"image": to_float_image(self.raw)}

    ds = SyntheticAnomalies(Bright(), build("fourier_perlin", beta=0.0), seed=1)
    aug = ds[(0, 0)]["aug_image"]
    assert as_input_spec("imagenet").invert(aug).max() > 1.1  # not clipped to [0, 1] on the way
    assert denormalize(aug).max() <= 1.0


# -- registry --------------------------------------------------------------------------------------
def test_registry_names_options_and_errors():
    assert set(STRATEGY_NAMES) == {"dra", "nsa", "cutpaste", "simple_texture", "simple_shape",
                                   "simple_texture_shape", "fourier_perlin"}
    for name in STRATEGY_NAMES:
        s = build(name)
        d = s.describe()
        assert s.name == name == d["name"] and isinstance(d["options"], dict) and d["image_size"] == [S, S]
    with pytest.raises(ValueError, match="unknown synthesis strategy 'draem'.*dra"):
        build_strategy("draem")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['beta'\].*beta_max"):
        build("dra", beta=0.5)
    with pytest.raises(ValueError, match="unknown option"):
        build("dra", shape="rect")  # fixed by the name
    with pytest.raises(ValueError, match="fourier_perlin only"):
        build_strategy("dra", texture_source="self")
    with pytest.raises(ValueError, match="beta_max"):
        build("dra", beta_max=1.5)
    with pytest.raises(ValueError, match="mode"):
        build("fourier_perlin", mode="literal")
    with pytest.raises(ValueError, match="CutPaste variant"):
        build("cutpaste", variant="patch")
    with pytest.raises(ValueError, match="unknown NSA overrides"):
        build("nsa", overrides={"patches": 2})
    with pytest.raises(ValueError, match="built for images of"):
        build("dra")(tile(0, 32), None, 0)
    with pytest.raises(TypeError, match="uint8"):
        build("dra")(tile(0).astype(np.float32), None, 0)
    with pytest.raises(ValueError, match="second training image"):
        build_strategy("fourier_perlin", texture_source="self")(tile(0), None, 0)
    assert build_strategy("fourier_perlin", texture_source="self").needs_source


def test_gallery_shows_every_strategy_and_flags_unlabelled_changes():
    import matplotlib

    matplotlib.use("Agg")
    from adlib.viz import synthesis_gallery

    strategies = {name: build(name) for name in STRATEGY_NAMES}
    fig = synthesis_gallery(tile(0), strategies, source=tile(1), seed=2)
    axes = fig.get_axes()
    assert len(axes) == 2 * (len(STRATEGY_NAMES) + 1)
    ncols = len(axes) // 2
    labels = {ax.get_title(): axes[i + ncols].get_xlabel() for i, ax in enumerate(axes[:ncols])}
    assert "changed outside 0.0 %" in labels["dra"]
    assert "changed outside 0.0 %" not in labels["fourier_perlin"]
