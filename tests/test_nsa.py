"""NSA synthesis (adlib.synthesis.nsa) and the SyntheticAnomalies training-set wrapper."""

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from adlib.engine.batches import StepSampler
from adlib.synthesis import NSA, NSAConfig, SyntheticAnomalies, mrkd_nsa_config, nsa_paper_config, nsa_patch
from adlib.synthesis.nsa import object_mask
from adlib.synthesis.nsa_presets import MRKD_CODE, nsa_config


def texture(seed=0, size=96):
    """A smooth random texture with enough structure that pasted patches change pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = 128 + 60 * np.sin(x / 3.0 + rng.uniform(0, 6)) * np.cos(y / 5.0 + rng.uniform(0, 6))
    img = np.stack([base + rng.normal(0, 12, base.shape) for _ in range(3)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def object_on_background(size=96, background=20, radius=28):
    """A bright textured disc on a dark, slightly noisy background (like hazelnut: background (20, 20))."""
    noise = np.random.default_rng(9).integers(-8, 9, (size, size, 1))
    img = np.clip(background + noise, 0, 255).repeat(3, axis=-1).astype(np.uint8)
    y, x = np.mgrid[0:size, 0:size]
    disc = (y - size / 2) ** 2 + (x - size / 2) ** 2 < radius**2
    img[disc] = texture(3, size)[disc] // 2 + 100
    return img, disc


def test_swap_output_shapes_labels_and_changes():
    img = texture()
    res = nsa_patch(img, None, mrkd_nsa_config(), rng=1)
    assert res.image.shape == img.shape and res.image.dtype == np.uint8
    assert res.label.shape == img.shape[:2] and set(np.unique(res.label)) <= {0, 1}
    assert res.boxes, "the first patch is always attempted and a texture has no foreground restriction"
    changed = np.abs(res.image.astype(int) - img.astype(int)).mean(-1) > 1
    assert res.label.sum() > 0
    # labels lie inside the pasted boxes and mostly on pixels that changed
    inside = np.zeros(img.shape[:2], bool)
    for (r0, r1), (q0, q1) in res.boxes:
        inside[r0:r1, q0:q1] = True
    near = binary_dilation(inside, iterations=2)  # the 5×5 median may fill concave corners of two boxes
    assert not (res.label.astype(bool) & ~near).any()
    assert (changed[res.label.astype(bool)]).mean() > 0.9
    # nothing outside the boxes changed
    assert not (changed & ~inside).any()


def test_swap_pastes_pixels_of_the_same_image():
    img = texture(5)
    res = nsa_patch(img, texture(6), mrkd_nsa_config(), rng=2)  # same=True ignores the other image
    (r0, r1), (q0, q1) = res.boxes[0]
    patch = res.image[r0:r1, q0:q1]
    h, w = patch.shape[:2]
    # the pasted block occurs somewhere in the original image (hard copy, no blending)
    found = any(np.array_equal(patch, img[i:i + h, j:j + w]) for i in range(img.shape[0] - h + 1)
                for j in range(img.shape[1] - w + 1))
    assert found


def test_determinism_under_a_seed():
    img = texture()
    a = nsa_patch(img, None, mrkd_nsa_config(), rng=7)
    b = nsa_patch(img, None, mrkd_nsa_config(), rng=np.random.default_rng(7))
    c = nsa_patch(img, None, mrkd_nsa_config(), rng=8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label) and a.boxes == b.boxes
    assert not np.array_equal(a.image, c.image)


def test_foreground_restriction():
    img, disc = object_on_background()
    cfg = NSAConfig(width_bounds=((0.05, 0.15), (0.05, 0.15)), num_patches=4, background=(20, 20),
                    min_object_pct=0.7, min_overlap_pct=0.25)
    fg = object_mask(img, (20, 20)).astype(bool)
    assert fg[disc].mean() > 0.99 and not fg[~disc].any()
    on_object = total = 0
    for seed in range(20):
        res = nsa_patch(img, None, cfg, rng=seed)
        changed = (res.image != img).any(-1)
        now_object = np.abs(res.image.astype(float).mean(-1) - 20) > 20
        # NSA pastes only where the source or the destination is object: background pasted onto
        # background (which would change these noisy pixels) never happens
        assert not (changed & ~disc & ~now_object).any(), "background was pasted onto background"
        lab = res.label.astype(bool)
        total += lab.sum()
        on_object += (lab & disc).sum()
        for (r0, r1), (q0, q1) in res.boxes:  # every destination box overlaps the object
            assert disc[r0:r1, q0:q1].any()
    assert total > 0 and on_object / total > 0.6


def test_poisson_variants_blend_from_another_image():
    dest, src = texture(1), texture(2)
    for mode in ("normal", "mixed"):
        cfg = nsa_paper_config("carpet").replace(mode=mode)
        assert not cfg.same and cfg.resize
        res = nsa_patch(dest, src, cfg, rng=4)
        assert res.image.shape == dest.shape and res.label.sum() > 0
        inside = np.zeros(dest.shape[:2], bool)
        for (r0, r1), (q0, q1) in res.boxes:
            inside[r0:r1, q0:q1] = True
        assert np.array_equal(res.image[~inside], dest[~inside])


def test_grayscale_and_bad_inputs():
    g = texture()[..., 0]
    res = nsa_patch(g, None, mrkd_nsa_config(), rng=0)
    assert res.image.shape == g.shape
    with pytest.raises(TypeError, match="uint8"):
        nsa_patch(g.astype(np.float32))
    with pytest.raises(ValueError, match="mode"):
        NSAConfig(mode="blend")
    with pytest.raises(ValueError, match="width_bounds"):
        NSAConfig(width_bounds=((0.1, 0.6), (0.1, 0.2)))
    with pytest.raises(ValueError, match="same shape"):
        nsa_patch(texture(size=96), texture(size=64), nsa_paper_config("carpet"), rng=0)
    with pytest.raises(ValueError, match="variant"):
        nsa_config("poisson")


def test_presets_follow_the_mrkd_code():
    tb = mrkd_nsa_config("toothbrush")
    assert tb.mode == "swap" and tb.same and not tb.resize and tb.num_patches == 1
    assert tb.width_bounds == ((0.01, 0.01), (0.01, 0.01)) and tb.background == (20, 20)
    # toothbrush: 0.01 × 256 rounds to 3 px half-width → 6×6 patches
    res = nsa_patch(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8), None,
                    tb.replace(background=None), rng=0)
    (r0, r1), (q0, q1) = res.boxes[0]
    assert (r1 - r0, q1 - q0) == (6, 6)
    unknown = mrkd_nsa_config("mtd")  # no MRKD setting: texture style
    assert unknown.background is None and unknown.num_patches == 4 and unknown.width_bounds == ((0.03, 0.4), (0.03, 0.4))
    assert set(MRKD_CODE) >= {"bottle", "carpet", "zipper"} and len(MRKD_CODE) == 15
    assert nsa_paper_config("bottle").mode == "normal" and nsa_paper_config("wood").mode == "mixed"


class _Tiny(torch.utils.data.Dataset):
    """Minimal stand-in for an AnomalyDataset (load_raw + samples)."""

    normalize = "imagenet"

    def __init__(self, n=4, size=48):
        self.images = [torch.from_numpy(texture(i, size)).permute(2, 0, 1).contiguous() for i in range(n)]

    def __len__(self):
        return len(self.images)

    def load_raw(self, i):
        return self.images[i], torch.zeros((0, *self.images[i].shape[1:]), dtype=torch.uint8), (48, 48)

    def __getitem__(self, i):
        from adlib.data.transforms import to_float_image

        return {"image": to_float_image(self.images[i]), "label": 0, "path": f"img{i}.png"}


def test_synthetic_anomalies_keyed_draws():
    ds = SyntheticAnomalies(_Tiny(), NSA(mrkd_nsa_config()), probability=1.0, seed=3)
    a, b, c = ds[(1, 10)], ds[(1, 10)], ds[(1, 11)]
    assert set(a) >= {"image", "aug_image", "aug_mask", "augmented"}
    assert a["aug_image"].shape == a["image"].shape and a["aug_mask"].shape == (1, 48, 48)
    assert torch.equal(a["aug_image"], b["aug_image"]), "same (index, draw) → same anomaly"
    assert not torch.equal(a["aug_image"], c["aug_image"]), "another draw of the same image → another anomaly"
    assert a["augmented"] and a["aug_mask"].sum() > 0
    assert torch.equal(ds[1]["aug_image"], ds[(1, 0)]["aug_image"])
    assert not torch.equal(a["aug_image"], a["image"])


def test_probability_alpha():
    ds = SyntheticAnomalies(_Tiny(), NSA(mrkd_nsa_config()), probability=0.3, seed=0)
    flags = [ds[(i % 4, i)]["augmented"] for i in range(200)]
    assert 0.18 < np.mean(flags) < 0.42
    off = SyntheticAnomalies(_Tiny(), NSA(mrkd_nsa_config()), probability=0.0)
    s = off[(0, 5)]
    assert not s["augmented"] and torch.equal(s["aug_image"], s["image"]) and s["aug_mask"].sum() == 0
    with pytest.raises(ValueError, match="probability"):
        SyntheticAnomalies(_Tiny(), NSA(), probability=1.5)
    with pytest.raises(TypeError, match="load_raw"):
        SyntheticAnomalies([1, 2, 3], NSA())


def test_needs_source_draws_another_image():
    seen = []

    def synth(dest, src, rng):
        seen.append(src is not None and not np.array_equal(src, dest))
        return dest, np.zeros(dest.shape[:2], np.uint8)

    ds = SyntheticAnomalies(_Tiny(), synth, needs_source=True)
    for i in range(8):
        ds[(i % 4, i)]
    assert all(seen)


def test_keyed_sampler_positions_are_unique_and_resume_exactly():
    full = [b for b in StepSampler(10, 4, 9, seed=1, keyed=True)]
    draws = [d for b in full for _, d in b]
    assert len(set(draws)) == len(draws)
    assert [i for b in full for i, _ in b] == [i for b in StepSampler(10, 4, 9, seed=1) for i in b]
    resumed = list(StepSampler(10, 4, 9, start_step=5, seed=1, keyed=True))
    assert resumed == full[5:]


def test_binary_median_equals_a_median_filter():
    from scipy.ndimage import median_filter

    from adlib.synthesis.nsa import binary_median

    m = (np.random.default_rng(0).random((40, 37)) > 0.45).astype(np.uint8)
    for size in (5, 7):
        assert np.array_equal(binary_median(m, size), median_filter(m, size=size, mode="nearest"))


def test_keyed_draws_do_not_depend_on_workers():
    from adlib.engine.batches import make_loader

    ds = SyntheticAnomalies(_Tiny(), NSA(mrkd_nsa_config()), probability=0.7, seed=2)
    runs = []
    for workers in (0, 2):
        sampler = StepSampler(len(ds), 2, 4, seed=5, keyed=True)
        runs.append([b["aug_image"] for b in make_loader(ds, num_workers=workers, batch_sampler=sampler)])
    assert len(runs[0]) == 4
    for a, b in zip(*runs):
        assert torch.equal(a, b)
