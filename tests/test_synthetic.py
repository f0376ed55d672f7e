"""The synthetic data generator: layouts, determinism, exact masks, variation, learnability, caching."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from adlib.data.loco import MVTecLOCO
from adlib.data.mvtec import MVTecAD
from adlib.data.synthetic import (
    ALL_CATEGORIES,
    DEFECT_TYPES,
    META_FILE,
    SYNTHETIC_CATEGORIES,
    SYNTHETIC_LOCO_CATEGORIES,
    SYNTHETIC_REGISTRY,
    SyntheticParamsError,
    count_images,
    default_root,
    ensure_synthetic,
    foreground,
    generate,
    render_loco_sample,
    render_sample,
)

SMALL = dict(image_size=64, n_train=4, n_test_good=2, n_test_defect=2, n_validation=3, progress=False)
TEXTURES = [c for c in SYNTHETIC_CATEGORIES if SYNTHETIC_REGISTRY[c].kind == "texture"]
OBJECTS = [c for c in SYNTHETIC_CATEGORIES if SYNTHETIC_REGISTRY[c].kind == "object"]


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_small")
    generate(root, **SMALL)
    return root


@pytest.fixture(scope="module")
def learn_root(tmp_path_factory) -> Path:
    """128-px MVTec-layout categories with enough images for simple baselines."""
    root = tmp_path_factory.mktemp("synthetic_learn")
    generate(root, SYNTHETIC_CATEGORIES, image_size=128, n_train=15, n_test_good=10, n_test_defect=4, progress=False)
    return root


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3×3 (1-pixel) binary dilation."""
    p = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= p[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


def _stack(ds) -> tuple[torch.Tensor, np.ndarray]:
    return torch.stack([ds[i]["image"] for i in range(len(ds))]), ds.labels


# -- registry ------------------------------------------------------------------------------
def test_registry_describes_every_category():
    kinds = [SYNTHETIC_REGISTRY[c].kind for c in SYNTHETIC_CATEGORIES]
    assert kinds.count("texture") >= 2 and kinds.count("object") >= 2
    assert SYNTHETIC_LOCO_CATEGORIES and all(SYNTHETIC_REGISTRY[c].kind == "loco" for c in SYNTHETIC_LOCO_CATEGORIES)
    assert set(ALL_CATEGORIES) == set(SYNTHETIC_REGISTRY)
    for name in SYNTHETIC_CATEGORIES:
        assert set(SYNTHETIC_REGISTRY[name].defects) <= set(DEFECT_TYPES)
    for name in SYNTHETIC_LOCO_CATEGORIES:
        info = SYNTHETIC_REGISTRY[name]
        assert info.logical_defects and info.structural_defects
        assert info.defects == info.logical_defects + info.structural_defects


# -- MVTec AD layout -----------------------------------------------------------------------
@pytest.mark.parametrize("category", SYNTHETIC_CATEGORIES)
def test_mvtec_layout_reads_back(small_root, category):
    info = SYNTHETIC_REGISTRY[category]
    cdir = small_root / category
    assert (cdir / "train" / "good" / "000.png").is_file()
    assert json.loads((cdir / META_FILE).read_text())["params"]["seed"] == 0

    train = MVTecAD(small_root, category, "train", image_size=None)
    assert len(train) == SMALL["n_train"] and train.labels.sum() == 0

    test = MVTecAD(small_root, category, "test", image_size=None)
    expected = {"good": SMALL["n_test_good"], **{d: SMALL["n_test_defect"] for d in info.defects}}
    assert test.counts() == expected
    for i in range(len(test)):
        s = test[i]
        assert tuple(s["image"].shape) == (3, 64, 64) and tuple(s["mask"].shape) == (1, 64, 64)
        assert s["label"] == int(s["defect"] != "good") and s["has_mask"]
        assert (s["mask"].sum() > 0) == bool(s["label"])
    for defect in info.defects:
        for mask_path in sorted((cdir / "ground_truth" / defect).iterdir()):
            assert mask_path.name.endswith("_mask.png")
            m = _png(mask_path)
            assert m.shape == (64, 64) and set(np.unique(m)) == {0, 255}
            assert (cdir / "test" / defect / mask_path.name.replace("_mask", "")).is_file()


def test_count_images_matches_files(small_root):
    for category in ALL_CATEGORIES:
        counts = {k: SMALL[k] for k in ("n_train", "n_test_good", "n_test_defect", "n_validation")}
        n_files = sum(1 for p in (small_root / category).glob("*/*/*.png") if p.parts[-3] != "ground_truth")
        assert n_files == count_images(category, **counts)


# -- MVTec LOCO layout ---------------------------------------------------------------------
@pytest.mark.parametrize("category", SYNTHETIC_LOCO_CATEGORIES)
def test_loco_layout_and_defects_config(small_root, category):
    cdir = small_root / category
    config = json.loads((cdir / "defects_config.json").read_text())
    assert isinstance(config, list) and config
    for entry in config:
        assert set(entry) == {"defect_name", "pixel_value", "saturation_threshold", "relative_saturation"}
        assert isinstance(entry["defect_name"], str) and isinstance(entry["relative_saturation"], bool)
        assert isinstance(entry["pixel_value"], int) and 0 < entry["pixel_value"] < 256
        assert entry["saturation_threshold"] > 0
        if entry["relative_saturation"]:
            assert entry["saturation_threshold"] <= 1.0
    assert {e["relative_saturation"] for e in config} == {True, False}
    values = {e["pixel_value"]: e["defect_name"] for e in config}
    assert len(values) == len(config)
    assert set(values.values()) == set(SYNTHETIC_REGISTRY[category].defects)

    for split, n in (("train", SMALL["n_train"]), ("validation", SMALL["n_validation"])):
        assert len(MVTecLOCO(small_root, category, split, image_size=None)) == n
    test = MVTecLOCO(small_root, category, "test", image_size=None)
    info = SYNTHETIC_REGISTRY[category]
    assert test.counts() == {"good": SMALL["n_test_good"],
                             "logical_anomalies": SMALL["n_test_defect"] * len(info.logical_defects),
                             "structural_anomalies": SMALL["n_test_defect"] * len(info.structural_defects)}
    types = json.loads((cdir / META_FILE).read_text())["test_defect_types"]
    assert len(types) == len(test) - SMALL["n_test_good"] and set(types.values()) == set(info.defects)
    n_multi = 0
    for i, rec in enumerate(test.records):
        if rec.label == 0:
            continue
        gt = cdir / "ground_truth" / rec.defect / rec.image_path.stem
        files = sorted(gt.iterdir())
        assert [f.name for f in files] == [f"{k:03d}.png" for k in range(len(files))]
        n_multi += rec.anomaly_kind == "logical" and len(files) >= 2
        for f in files:
            m = _png(f)
            assert m.shape == (64, 64)
            nz = np.unique(m[m > 0])
            assert len(nz) == 1 and int(nz[0]) in values
            kinds = info.logical_defects if rec.anomaly_kind == "logical" else info.structural_defects
            assert values[int(nz[0])] in kinds
            if rec.anomaly_kind == "structural":
                assert values[int(nz[0])] == types[f"{rec.defect}/{rec.image_path.name}"]
        assert test[i]["masks"].shape[0] == len(files)
    assert n_multi >= 3


def test_loco_structural_masks_are_exact():
    for category in SYNTHETIC_LOCO_CATEGORIES:
        for defect in SYNTHETIC_REGISTRY[category].structural_defects:
            for i in range(3):
                clean, image, instances = render_loco_sample(category, i, defect, image_size=128)
                (name, _, mask), = instances
                diff = np.abs(image.astype(int) - clean.astype(int)).max(axis=2)
                assert name == defect and mask.any()
                assert diff[~_dilate(mask)].max() <= 2
                assert diff[mask].mean() > 10


# -- determinism ---------------------------------------------------------------------------
def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path, small_root):
    kw = dict(SMALL, image_size=64)
    generate(tmp_path / "a", ["nut", "tray"], seed=0, **kw)
    generate(tmp_path / "b", ["nut", "tray"], seed=7, **kw)
    a = _tree_bytes(tmp_path / "a")
    assert a == {k: v for k, v in _tree_bytes(small_root).items() if k.split("/")[0] in ("nut", "tray")}
    b = _tree_bytes(tmp_path / "b")
    pngs = [k for k in a if k.endswith(".png") and "ground_truth" not in k]
    assert pngs == [k for k in b if k.endswith(".png") and "ground_truth" not in k]
    assert all(a[k] != b[k] for k in pngs)


def test_files_equal_render_sample(small_root):
    img = _png(small_root / "weave" / "test" / "hole" / "001.png")
    mask = _png(small_root / "weave" / "ground_truth" / "hole" / "001_mask.png")
    _, image, m = render_sample("weave", 1, "hole", "test", seed=0, image_size=64)
    assert np.array_equal(img, image) and np.array_equal(mask > 0, m)
    _, image, _ = render_sample("capsule", 3, "good", "train", seed=0, image_size=64)
    assert np.array_equal(_png(small_root / "capsule" / "train" / "good" / "003.png"), image)


def test_categories_are_independent(tmp_path):
    generate(tmp_path / "one", "grain", **SMALL)
    generate(tmp_path / "two", ["capsule", "grain"], **SMALL)
    assert _tree_bytes(tmp_path / "one" / "grain") == _tree_bytes(tmp_path / "two" / "grain")


# -- masks mark exactly the changed pixels -------------------------------------------------
@pytest.mark.parametrize("category", SYNTHETIC_CATEGORIES)
def test_masks_match_changed_pixels(category):
    for defect in SYNTHETIC_REGISTRY[category].defects:
        for i in range(4):
            clean, image, mask = render_sample(category, i, defect, image_size=128)
            diff = np.abs(image.astype(int) - clean.astype(int)).max(axis=2)
            assert mask.dtype == bool and mask.any()
            assert diff[~_dilate(mask)].max() <= 2, (category, defect, i)
            assert diff[mask].mean() > 15, (category, defect, i)
            assert (diff[mask] > 0).mean() > 0.8
            assert 0.001 < mask.mean() < 0.08  # visible, not gigantic
            if SYNTHETIC_REGISTRY[category].kind == "object":
                assert not (mask & ~foreground(category, i, defect, image_size=128)).any()
    clean, image, mask = render_sample(category, 0, "good", "train", image_size=128)
    assert np.array_equal(clean, image) and not mask.any()


# -- variation and learnability ------------------------------------------------------------
@pytest.mark.parametrize("category", SYNTHETIC_CATEGORIES)
def test_normal_images_vary(learn_root, category):
    train, _ = _stack(MVTecAD(learn_root, category, "train", image_size=None, normalize=None))
    pair = (train[:, None] - train[None]).abs().mean(dim=(2, 3, 4)) * 255
    off = pair[~torch.eye(len(train), dtype=torch.bool)]
    assert off.min() > 4 and off.median() > 8


def _local_stats(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Mean and std of each colour channel in 8×8 windows: N × L × 6."""
    m = torch.nn.functional.avg_pool2d(x, 8, stride)
    sd = (torch.nn.functional.avg_pool2d(x * x, 8, stride) - m * m).clamp_min(0).sqrt()
    return torch.cat([m, sd], 1).flatten(2).transpose(1, 2)


@pytest.mark.parametrize("category", TEXTURES)
def test_textures_learnable_by_patch_nearest_neighbour(learn_root, category):
    """Nearest neighbour of local colour statistics among all train windows finds the defects."""
    train, _ = _stack(MVTecAD(learn_root, category, "train", image_size=None, normalize=None))
    test, labels = _stack(MVTecAD(learn_root, category, "test", image_size=None, normalize=None))
    bank = _local_stats(train, 8).reshape(-1, 6)
    scores = [torch.cdist(q, bank).min(dim=1).values.max().item() for q in _local_stats(test, 4)]
    assert roc_auc_score(labels, scores) > 0.7


@pytest.mark.parametrize("category", OBJECTS)
def test_objects_not_solved_by_trivial_baselines(learn_root, category):
    train, _ = _stack(MVTecAD(learn_root, category, "train", image_size=None, normalize=None))
    test, labels = _stack(MVTecAD(learn_root, category, "test", image_size=None, normalize=None))
    mean, std = train.mean(0), train.std(0) + 0.02
    mean_image = (test - mean).abs().mean(dim=(1, 2, 3))
    zscore = ((test - mean).abs() / std).amax(dim=(1, 2, 3))
    nearest = torch.cdist(test.flatten(1), train.flatten(1)).min(dim=1).values
    assert roc_auc_score(labels, mean_image) < 0.95
    assert roc_auc_score(labels, nearest) < 0.95
    assert roc_auc_score(labels, zscore) < 0.98


# -- caching, overwrite, arguments ---------------------------------------------------------
def test_regeneration_is_skipped_and_mismatch_raises(tmp_path):
    kw = dict(SMALL)
    paths = generate(tmp_path, ["weave", "tray"], **kw)
    assert paths == {"weave": tmp_path / "weave", "tray": tmp_path / "tray"}
    marker = tmp_path / "weave" / "train" / "good" / "000.png"
    mtime = marker.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert generate(tmp_path, ["weave", "tray"], **kw) == paths
    assert time.perf_counter() - t0 < 0.5 and marker.stat().st_mtime_ns == mtime
    generate(tmp_path, "weave", **dict(kw, n_validation=9))  # n_validation does not concern MVTec AD categories
    with pytest.raises(SyntheticParamsError, match="seed"):
        generate(tmp_path, "weave", **dict(kw, seed=1))
    with pytest.raises(SyntheticParamsError, match="n_validation"):
        generate(tmp_path, "tray", **dict(kw, n_validation=9))
    generate(tmp_path, "weave", overwrite=True, **dict(kw, seed=1, n_train=2))
    meta = json.loads((tmp_path / "weave" / META_FILE).read_text())
    assert meta["params"]["seed"] == 1 and len(list((tmp_path / "weave" / "train" / "good").iterdir())) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folders left

    (tmp_path / "tile").mkdir()  # a folder this generator did not write
    with pytest.raises(SyntheticParamsError, match="overwrite=True"):
        generate(tmp_path, "tile", **kw)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(categories="nope"), ValueError, "weave"),
    (dict(categories=["weave", "nope"]), ValueError, "tray"),
    (dict(categories=[]), ValueError, "empty"),
    (dict(n_train=0), ValueError, "n_train must be positive"),
    (dict(n_test_defect=-1), ValueError, "n_test_defect"),
    (dict(n_test_good=2.5), TypeError, "n_test_good must be an int"),
    (dict(image_size=16), ValueError, "image_size must be >= 32"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate(tmp_path, **{**SMALL, **kwargs})
    assert not list(tmp_path.iterdir())


def test_render_argument_errors():
    with pytest.raises(ValueError, match="known"):
        render_sample("weave", 0, "crack")  # weave has no crack
    with pytest.raises(ValueError, match="test split"):
        render_sample("nut", 0, "hole", "train")
    with pytest.raises(ValueError, match="render_sample"):
        render_loco_sample("nut")


def test_default_root_and_ensure_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    assert default_root() == tmp_path / "data" / "synthetic"
    root = ensure_synthetic(categories="capsule", **SMALL)
    assert root == default_root() and (root / "capsule" / META_FILE).is_file()
    assert ensure_synthetic(categories="capsule", **SMALL) == root
    monkeypatch.delenv("ADLIB_DATA")
    assert default_root() == Path.home() / ".cache" / "adlib" / "data" / "synthetic"


def test_progress_bar(tmp_path, capsys):
    generate(tmp_path, "grain", **dict(SMALL, progress=True))
    assert (tmp_path / "grain" / META_FILE).is_file()
