"""Sample schema, MVTec-layout reader, resizing, caching and bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from adlib.data.errors import DatasetNotFoundError, ImageReadError, MaskError
from adlib.data.io import read_image
from adlib.data.mvtec import MVTecAD, list_categories
from adlib.data.schema import SAMPLE_KEYS, collate
from adlib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize, resize_mask
from conftest import make_mvtec_category, write_png


def test_sample_schema_and_labels(mvtec_root):
    test = MVTecAD(mvtec_root, "widget", "test", image_size=16)
    assert len(test) == 4 and test.counts() == {"good": 2, "scratch": 2}
    s = test[0]
    assert set(SAMPLE_KEYS) <= set(s)
    assert s["image"].shape == (3, 16, 16) and s["image"].dtype == torch.float32
    assert s["mask"].shape == (1, 16, 16) and s["label"] == 0 and s["defect"] == "good"
    assert s["mask"].sum() == 0 and s["has_mask"] and tuple(s["orig_size"].tolist()) == (24, 24)
    bad = test[2]
    assert bad["label"] == 1 and bad["defect"] == "scratch" and bad["mask"].sum() > 0
    assert set(torch.unique(bad["mask"]).tolist()) == {0.0, 1.0}
    assert bad["path"].endswith("test/scratch/000.png")
    assert list_categories(mvtec_root) == ["widget"]


def test_normalisation_roundtrip(mvtec_root):
    raw = MVTecAD(mvtec_root, "widget", "train", image_size=None, normalize=None)[0]["image"]
    norm = MVTecAD(mvtec_root, "widget", "train", image_size=None)[0]["image"]
    expected = np.asarray(Image.open(mvtec_root / "widget/train/good/000.png"), np.float32) / 255
    torch.testing.assert_close(raw, torch.from_numpy(expected).permute(2, 0, 1))
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(norm, (raw - mean) / std)
    torch.testing.assert_close(denormalize(norm), raw, atol=1e-6, rtol=0)


def test_mask_resize_nearest_vs_bilinear():
    m = np.zeros((8, 8), np.uint8)
    m[0:3, 0:3] = 255  # odd-sized square: nearest and bilinear+0.5 differ at the edge
    near = resize_mask(m, (4, 4), "nearest")
    bil = resize_mask(m, (4, 4), "bilinear")
    assert set(np.unique(near)) <= {0, 255} and set(np.unique(bil)) <= {0, 255}
    assert near[0, 0] == 255 and near[3, 3] == 0 and bil[0, 0] == 255
    np.testing.assert_array_equal(resize_mask(m, (16, 16), "nearest"), np.kron(m, np.ones((2, 2), np.uint8)))
    with pytest.raises(ValueError, match="mask interpolation"):
        resize_mask(m, (4, 4), "cubic")


def test_resize_non_square_and_mask_follows(tmp_path):
    cdir = tmp_path / "rect"
    write_png(cdir / "test/hole/000.png", np.zeros((20, 40, 3), np.uint8))
    m = np.zeros((20, 40), np.uint8)
    m[:, 20:] = 255
    write_png(cdir / "ground_truth/hole/000_mask.png", m)
    s = MVTecAD(tmp_path, "rect", "test", image_size=(10, 12))[0]
    assert s["image"].shape == (3, 10, 12) and s["mask"].shape == (1, 10, 12)
    assert s["mask"][0, :, :6].sum() == 0 and s["mask"][0, :, 6:].all()
    assert tuple(s["orig_size"].tolist()) == (20, 40)


def test_collate_and_dataloader(mvtec_root):
    ds = MVTecAD(mvtec_root, "widget", "test", image_size=16)
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate)))
    assert batch["image"].shape == (4, 3, 16, 16) and batch["mask"].shape == (4, 1, 16, 16)
    assert batch["label"].tolist() == [0, 0, 1, 1] and batch["orig_size"].shape == (4, 2)
    assert batch["defect"] == ["good", "good", "scratch", "scratch"] and batch["has_mask"].all()
    ragged = collate([{"masks": torch.zeros(1, 2, 2)}, {"masks": torch.zeros(3, 2, 2)}])
    assert isinstance(ragged["masks"], list) and len(ragged["masks"]) == 2
    with pytest.raises(ValueError):
        collate([])


def test_cache_holds_decoded_uint8_and_survives_file_removal(mvtec_root):
    ds = MVTecAD(mvtec_root, "widget", "train", image_size=16, cache=True)
    first = ds[1]["image"].clone()
    assert len(ds._cache) == 1
    ds.preload(progress=False)
    assert len(ds._cache) == len(ds)
    img, mask, orig = ds._cache[1]
    assert img.dtype == torch.uint8 and img.shape == (3, 16, 16)
    (mvtec_root / "widget/train/good/001.png").unlink()  # served from memory from now on
    torch.testing.assert_close(ds[1]["image"], first)
    uncached = MVTecAD(mvtec_root, "widget", "test", image_size=16)
    uncached[0]
    assert uncached._cache == {}


# -- bad input: every error names the file or folder ---------------------------------------
def test_missing_root_and_category(tmp_path, mvtec_root):
    with pytest.raises(DatasetNotFoundError, match="dataset root not found"):
        MVTecAD(tmp_path / "nope", "widget")
    with pytest.raises(DatasetNotFoundError, match=r"'gizmo' not found.*widget"):
        MVTecAD(mvtec_root, "gizmo")
    with pytest.raises(DatasetNotFoundError, match="split folder not found"):
        MVTecAD(mvtec_root, "widget", "validation")


def test_empty_split(tmp_path):
    (tmp_path / "empty/train/good").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"holds no images.*empty"):
        MVTecAD(tmp_path, "empty", "train")


def test_corrupt_and_truncated_images(mvtec_root):
    bad = mvtec_root / "widget/train/good/001.png"
    bad.write_bytes(b"this is not a png")
    ds = MVTecAD(mvtec_root, "widget", "train", image_size=16)
    with pytest.raises(ImageReadError, match="001.png"):
        ds[1]
    with pytest.raises(ImageReadError, match="001.png"):
        ds.validate(progress=False)
    good = mvtec_root / "widget/train/good/002.png"
    good.write_bytes(good.read_bytes()[:60])  # truncated
    with pytest.raises(ImageReadError, match="002.png"):
        read_image(good)


def test_anomalous_image_without_mask(mvtec_root):
    (mvtec_root / "widget/ground_truth/scratch/001_mask.png").unlink()
    with pytest.raises(MaskError, match=r"no ground-truth mask.*scratch/001.png"):
        MVTecAD(mvtec_root, "widget", "test")
    ds = MVTecAD(mvtec_root, "widget", "test", allow_missing_masks=True, image_size=16)
    s = ds[3]
    assert s["label"] == 1 and not s["has_mask"] and s["mask"].sum() == 0


def test_mask_of_wrong_size(mvtec_root):
    write_png(mvtec_root / "widget/ground_truth/scratch/000_mask.png", np.full((10, 12), 255, np.uint8))
    ds = MVTecAD(mvtec_root, "widget", "test", image_size=16)
    with pytest.raises(MaskError, match=r"000_mask.png is 10×12.*24×24"):
        ds[2]


def test_corrupt_mask(mvtec_root):
    (mvtec_root / "widget/ground_truth/scratch/000_mask.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(MaskError, match="000_mask.png"):
        MVTecAD(mvtec_root, "widget", "test", image_size=16)[2]


@pytest.mark.parametrize("kind", ["L", "LA", "RGBA", "P", "I;16", "I", "1", "F"])
def test_odd_image_modes_become_rgb(tmp_path, kind):
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65535, (12, 14), dtype=np.uint16)
    if kind == "I;16":
        img = Image.fromarray(gray16)
        expected = (gray16 >> 8).astype(np.uint8)
    elif kind == "I":
        img = Image.fromarray(gray16.astype(np.int32), mode="I")
        expected = (gray16 >> 8).astype(np.uint8)
    elif kind == "F":
        f = rng.random((12, 14)).astype(np.float32)
        img = Image.fromarray(f, mode="F")
        expected = (f * 255).astype(np.uint8)
    else:
        rgba = rng.integers(0, 255, (12, 14, 4), dtype=np.uint8)
        img = Image.fromarray(rgba, mode="RGBA").convert(kind)
        expected = None
    path = tmp_path / ("x.tif" if kind in ("F", "I") else "x.png")
    img.save(path)
    out = read_image(path)
    assert out.mode == "RGB" and out.size == (14, 12)
    arr = np.asarray(out)
    if expected is not None:
        np.testing.assert_array_equal(arr[..., 0], expected)
        np.testing.assert_array_equal(arr[..., 0], arr[..., 2])


def test_sixteen_bit_dataset_end_to_end(tmp_path):
    cdir = tmp_path / "deep"
    write_png(cdir / "train/good/000.png", np.full((8, 8), 65535, np.uint16))
    s = MVTecAD(tmp_path, "deep", "train", image_size=None, normalize=None)[0]
    assert s["image"].shape == (3, 8, 8) and torch.allclose(s["image"], torch.ones(3, 8, 8))


def test_bad_arguments(mvtec_root):
    with pytest.raises(ValueError, match="normalize"):
        MVTecAD(mvtec_root, "widget", normalize="zscore")
    with pytest.raises(ValueError, match="positive"):
        MVTecAD(mvtec_root, "widget", image_size=0)
    with pytest.raises(IndexError):
        MVTecAD(mvtec_root, "widget")[99]


def test_grayscale_dataset_category(tmp_path):
    make_mvtec_category(tmp_path, "gray", defects={})
    for p in (tmp_path / "gray/train/good").iterdir():
        Image.open(p).convert("L").save(p)
    s = MVTecAD(tmp_path, "gray", "train", image_size=8)[0]
    assert s["image"].shape == (3, 8, 8)
