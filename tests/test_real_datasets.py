"""Readers of the real datasets (MVTec LOCO, VisA, BTAD, DAGM, user folders) on tiny fake layouts."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adlib.data.btad import BTAD, BTAD_CATEGORIES
from adlib.data.dagm import DAGM, read_labels
from adlib.data.errors import DataError, DatasetNotFoundError, ImageReadError, MaskError
from adlib.data.folder import FolderDataset, split_normal_images
from adlib.data.loco import (
    LOCO_CATEGORIES,
    DefectConfig,
    MVTecLOCO,
    load_defects_config,
)
from adlib.data.schema import LOCO_KEYS, SAMPLE_KEYS, collate
from adlib.data.visa import VISA_CATEGORIES, VisA, convert_visa

H, W = 24, 32  # non-square on purpose: catches H/W swaps
RNG = np.random.default_rng(0)


def write_image(path: Path, gray: bool = False, size=(H, W)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = size if gray else (*size, 3)
    Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def write_mask(path: Path, value: int = 255, box=(4, 10, 6, 14), size=(H, W), mode: str = "L") -> Path:
    """A mask with ``value`` inside rows box[0]:box[1], cols box[2]:box[3]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros(size, np.uint8)
    r0, r1, c0, c1 = box
    arr[r0:r1, c0:c1] = value
    img = Image.fromarray(arr)
    if mode == "RGB":
        img = Image.fromarray(np.stack([arr, np.zeros_like(arr), np.zeros_like(arr)], axis=2))
    img.save(path)
    return path


def corrupt(path: Path) -> Path:
    path.write_bytes(b"this is not an image")
    return path


def assert_corrupt_named(ds, path: Path):
    index = [str(r.image_path) for r in ds.records].index(str(path))
    with pytest.raises(ImageReadError, match=path.name):
        ds[index]


# --------------------------------------------------------------------------------------- LOCO
LOCO_CONFIG = [
    {"defect_name": "missing_pin", "pixel_value": 255, "saturation_threshold": 20, "relative_saturation": False},
    {"defect_name": "scratch", "pixel_value": 128, "saturation_threshold": 0.5, "relative_saturation": True},
]


@pytest.fixture
def loco_root(tmp_path):
    root = tmp_path / "loco"
    obj = root / "pushpins"
    for i in range(3):
        write_image(obj / "train" / "good" / f"{i:03d}.png")
    for i in range(2):
        write_image(obj / "validation" / "good" / f"{i:03d}.png")
        write_image(obj / "test" / "good" / f"{i:03d}.png")
        write_image(obj / "test" / "logical_anomalies" / f"{i:03d}.png")
        write_image(obj / "test" / "structural_anomalies" / f"{i:03d}.png")
    gt = obj / "ground_truth"
    write_mask(gt / "logical_anomalies" / "000" / "000.png", 255, (0, 4, 0, 4))
    write_mask(gt / "logical_anomalies" / "000" / "001.png", 128, (10, 20, 10, 20))
    write_mask(gt / "logical_anomalies" / "001" / "000.png", 255, (5, 6, 5, 6))
    write_mask(gt / "structural_anomalies" / "000" / "000.png", 128, (2, 8, 2, 8))
    write_mask(gt / "structural_anomalies" / "001" / "000.png", 255, (2, 8, 20, 30))
    (obj / "defects_config.json").write_text(json.dumps(LOCO_CONFIG))
    return root


def test_loco_splits_and_samples(loco_root):
    assert len(LOCO_CATEGORIES) == 5
    train = MVTecLOCO(loco_root, "pushpins", "train", image_size=None)
    val = MVTecLOCO(loco_root, "pushpins", "validation", image_size=None)
    test = MVTecLOCO(loco_root, "pushpins", "test", image_size=None, normalize=None)
    assert (len(train), len(val), len(test)) == (3, 2, 6)
    assert set(train.labels) == {0} and set(val.labels) == {0}
    assert test.counts() == {"good": 2, "logical_anomalies": 2, "structural_anomalies": 2}
    kinds = {r.defect: r.anomaly_kind for r in test.records}
    assert kinds == {"good": "good", "logical_anomalies": "logical", "structural_anomalies": "structural"}
    samples = {(s["defect"], Path(s["path"]).stem): s for s in (test[i] for i in range(len(test)))}
    s = samples[("logical_anomalies", "000")]
    assert set(SAMPLE_KEYS + LOCO_KEYS) <= set(s)
    assert s["label"] == 1 and s["anomaly_kind"] == "logical" and s["has_mask"]
    assert s["masks"].shape == (2, H, W) and s["masks"].dtype == torch.uint8
    assert torch.unique(s["masks"][0]).tolist() == [0, 255] and torch.unique(s["masks"][1]).tolist() == [0, 128]
    assert s["mask"].shape == (1, H, W) and s["mask"].sum().item() == 16 + 100
    good = samples[("good", "000")]
    assert good["masks"].shape == (0, H, W) and good["mask"].sum() == 0 and good["anomaly_kind"] == "good"
    assert samples[("structural_anomalies", "001")]["masks"].shape[0] == 1
    batch = collate([test[i] for i in range(len(test))])  # ragged masks stay a list
    assert isinstance(batch["masks"], list) and batch["mask"].shape == (6, 1, H, W)
    small = MVTecLOCO(loco_root, "pushpins", "test", image_size=12)
    assert small[2]["masks"].shape[1:] == (12, 12)


def test_loco_defects_config(loco_root):
    ds = MVTecLOCO(loco_root, "pushpins", "test", image_size=None)
    cfg = ds.defects_config
    assert cfg == load_defects_config(loco_root / "pushpins" / "defects_config.json")
    assert len(cfg) == 2 and cfg.names == {255: "missing_pin", 128: "scratch"}
    assert cfg.saturation_area(255, 100) == 20  # absolute: min(threshold, area)
    assert cfg.saturation_area(255, 7) == 7
    assert cfg.saturation_area(128, 100) == 50  # relative: threshold * area
    assert DefectConfig("x", 1, 0.25, True).saturation_area(40) == 10
    with pytest.raises(KeyError, match="77"):
        cfg.get(77)
    index = [(r.defect, r.image_path.stem) for r in ds.records].index(("logical_anomalies", "000"))
    assert [d.defect_name for d in ds.channel_defects(index)] == ["missing_pin", "scratch"]


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "defects_config.json"),
        ("{not json", "invalid JSON.*defects_config.json"),
        (json.dumps([{"defect_name": "a", "pixel_value": 3}]), "defects_config.json.*entry 0"),
        (json.dumps([{"defect_name": "a", "pixel_value": 300, "saturation_threshold": 1, "relative_saturation": True}]), "pixel_value"),
        (json.dumps(LOCO_CONFIG + LOCO_CONFIG[:1]), "more than one"),
    ],
)
def test_loco_bad_config(loco_root, content, match):
    path = loco_root / "pushpins" / "defects_config.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    with pytest.raises(DataError, match=match):
        MVTecLOCO(loco_root, "pushpins", "train")


def test_loco_mask_errors(loco_root):
    gt = loco_root / "pushpins" / "ground_truth" / "structural_anomalies"
    write_mask(gt / "000" / "000.png", 77)  # value not in the config
    ds = MVTecLOCO(loco_root, "pushpins", "test", image_size=None)
    index = [(r.defect, r.image_path.stem) for r in ds.records].index(("structural_anomalies", "000"))
    with pytest.raises(MaskError, match=r"000\.png.*77"):
        ds[index]
    mixed = np.array([[0, 128], [255, 0]], np.uint8).repeat(H // 2, 0).repeat(W // 2, 1)
    Image.fromarray(mixed).save(gt / "000" / "000.png")  # two defect values in one channel
    with pytest.raises(MaskError, match=r"000\.png.*several"):
        MVTecLOCO(loco_root, "pushpins", "test", image_size=None)[index]
    (gt / "001" / "000.png").unlink()  # empty GT folder
    with pytest.raises(MaskError, match="001.*empty"):
        MVTecLOCO(loco_root, "pushpins", "test")
    (gt / "001").rmdir()  # missing GT folder
    with pytest.raises(MaskError, match="001.*missing"):
        MVTecLOCO(loco_root, "pushpins", "test")


def test_loco_layout_errors(loco_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="pushpins"):
        MVTecLOCO(loco_root, "juice_bottle", "train")
    with pytest.raises(DatasetNotFoundError, match="root not found"):
        MVTecLOCO(tmp_path / "nope", "pushpins", "train")
    with pytest.raises(ValueError, match="validation"):
        MVTecLOCO(loco_root, "pushpins", "val")
    (loco_root / "pushpins" / "test" / "broken").mkdir()
    with pytest.raises(DataError, match="broken"):
        MVTecLOCO(loco_root, "pushpins", "test")
    (loco_root / "pushpins" / "test" / "broken").rmdir()
    for p in (loco_root / "pushpins" / "validation" / "good").iterdir():
        p.unlink()
    with pytest.raises(DatasetNotFoundError, match="no images"):
        MVTecLOCO(loco_root, "pushpins", "validation")
    bad = corrupt(loco_root / "pushpins" / "train" / "good" / "001.png")
    assert_corrupt_named(MVTecLOCO(loco_root, "pushpins", "train"), bad)


# --------------------------------------------------------------------------------------- VisA
def make_visa_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "VisA"
    rows = [("object", "split", "label", "image", "mask")]
    for cls, n_normal, n_anom in (("candle", 4, 2), ("pcb1", 2, 1)):
        d = raw / cls / "Data"
        for i in range(n_normal):
            write_image(d / "Images" / "Normal" / f"{i:04d}.JPG")
            split = "test" if i == n_normal - 1 else "train"
            rows.append((cls, split, "normal", f"{cls}/Data/Images/Normal/{i:04d}.JPG", ""))
        for i in range(n_anom):
            write_image(d / "Images" / "Anomaly" / f"{i:03d}.JPG")
            # VisA masks hold small non-binary values; one RGB mask too
            write_mask(d / "Masks" / "Anomaly" / f"{i:03d}.png", value=i + 1, mode="RGB" if i == 1 else "L")
            rows.append((cls, "test", "anomaly", f"{cls}/Data/Images/Anomaly/{i:03d}.JPG",
                         f"{cls}/Data/Masks/Anomaly/{i:03d}.png"))
    (raw / "split_csv").mkdir()
    with open(raw / "split_csv" / "1cls.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return raw


def test_visa_convert_and_read(tmp_path):
    assert len(VISA_CATEGORIES) == 12
    raw = make_visa_raw(tmp_path)
    dst = convert_visa(raw, tmp_path / "visa_mvtec", progress=False)
    cdir = dst / "candle"
    assert sorted(p.name for p in (cdir / "train" / "good").iterdir()) == ["0000.JPG", "0001.JPG", "0002.JPG"]
    assert [p.name for p in (cdir / "test" / "good").iterdir()] == ["0003.JPG"]
    assert sorted(p.name for p in (cdir / "ground_truth" / "bad").iterdir()) == ["000.png", "001.png"]
    src = raw / "candle" / "Data" / "Images" / "Anomaly" / "000.JPG"
    assert (cdir / "test" / "bad" / "000.JPG").read_bytes() == src.read_bytes()  # not re-encoded
    assert os.path.samefile(src, cdir / "test" / "bad" / "000.JPG")  # hard link on the same disk
    copied = convert_visa(raw, tmp_path / "copied", categories="pcb1", progress=False, link=False)
    assert (copied / "pcb1" / "train" / "good" / "0000.JPG").stat().st_nlink == 1
    for m in (cdir / "ground_truth" / "bad").iterdir():
        values = np.asarray(Image.open(m))
        assert values.ndim == 2 and set(np.unique(values)) == {0, 255}
    train = VisA(dst, "candle", "train", image_size=None)
    test = VisA(dst, "candle", "test", image_size=None)
    assert len(train) == 3 and test.counts() == {"bad": 2, "good": 1}
    for s in (test[i] for i in range(len(test))):
        assert s["has_mask"] and s["mask"].shape == (1, H, W)
        assert s["mask"].sum().item() == (48 if s["label"] else 0)  # 6×8 box
    assert len(VisA(dst, "pcb1", "test")) == 2


def test_visa_idempotent_and_filters(tmp_path):
    raw = make_visa_raw(tmp_path)
    dst = tmp_path / "out"
    convert_visa(raw, dst, categories="candle", progress=False)
    assert sorted(p.name for p in dst.iterdir()) == ["candle"]
    files = sorted(p for p in dst.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    convert_visa(raw, dst, categories=["candle"], progress=False)  # complete: not touched
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*") if p.is_file()} == stamps
    (dst / "candle" / "train" / "good" / "0001.JPG").unlink()
    convert_visa(raw, dst, categories=["candle"], progress=False)  # damaged: the category is built again
    assert sorted(p for p in dst.rglob("*") if p.is_file()) == files  # restored, nothing extra
    with pytest.raises(DatasetNotFoundError, match="cashew.*candle"):
        convert_visa(raw, dst, categories=["cashew"], progress=False)


def test_visa_errors(tmp_path):
    raw = make_visa_raw(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="raw VisA folder"):
        convert_visa(tmp_path / "missing", tmp_path / "o")
    with pytest.raises(DatasetNotFoundError, match="1cls.csv"):
        convert_visa(raw, tmp_path / "o", split_csv=raw / "nope" / "1cls.csv")
    with pytest.raises(DatasetNotFoundError, match="convert"):
        VisA(raw, "candle", "train")
    (raw / "candle" / "Data" / "Images" / "Normal" / "0002.JPG").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"0002\.JPG"):
        convert_visa(raw, tmp_path / "o", progress=False)
    (raw / "split_csv" / "bad.csv").write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(DataError, match="bad.csv.*columns"):
        convert_visa(raw, tmp_path / "o", split_csv=raw / "split_csv" / "bad.csv")


def test_visa_corrupt_image(tmp_path):
    raw = make_visa_raw(tmp_path)
    corrupt(raw / "candle" / "Data" / "Images" / "Normal" / "0001.JPG")
    dst = convert_visa(raw, tmp_path / "out", progress=False)  # copied as-is, fails on decode
    ds = VisA(dst, "candle", "train")
    assert_corrupt_named(ds, dst / "candle" / "train" / "good" / "0001.JPG")


# --------------------------------------------------------------------------------------- BTAD
BTAD_FORMATS = {"01": (".bmp", ".png"), "02": (".png", ".png"), "03": (".bmp", ".bmp")}


@pytest.fixture
def btad_parent(tmp_path):
    base = tmp_path / "btad" / "BTech_Dataset_transformed"
    for cat, (iext, mext) in BTAD_FORMATS.items():
        for i in range(3):
            write_image(base / cat / "train" / "ok" / f"{i:04d}{iext}")
        for i in range(2):
            write_image(base / cat / "test" / "ok" / f"{i:04d}{iext}")
            write_image(base / cat / "test" / "ko" / f"{i:04d}{iext}")
            write_mask(base / cat / "ground_truth" / "ko" / f"{i:04d}{mext}")
    return tmp_path / "btad"


@pytest.mark.parametrize("category", BTAD_CATEGORIES)
def test_btad_splits(btad_parent, category):
    for root in (btad_parent, btad_parent / "BTech_Dataset_transformed"):
        train = BTAD(root, category, "train", image_size=None)
        test = BTAD(root, category, "test", image_size=None)
        assert len(train) == 3 and set(train.defects) == {"good"} and set(train.labels) == {0}
        assert test.counts() == {"good": 2, "ko": 2} and test.labels.tolist() == [0, 0, 1, 1]
        iext, mext = BTAD_FORMATS[category]
        assert all(r.image_path.suffix == iext for r in test.records)
        assert all(r.mask_paths[0].suffix == mext for r in test.records if r.label)
        s = test[3]
        assert s["defect"] == "ko" and s["has_mask"] and s["mask"].sum().item() == 48
        assert test[0]["mask"].sum() == 0
    assert BTAD(btad_parent, int(category), "test").category == category


def test_btad_errors(btad_parent, tmp_path):
    base = btad_parent / "BTech_Dataset_transformed"
    with pytest.raises(DatasetNotFoundError, match=r"'04'.*'01', '02', '03'"):
        BTAD(btad_parent, "04")
    with pytest.raises(DatasetNotFoundError, match="root not found"):
        BTAD(tmp_path / "nope", "01")
    with pytest.raises(ValueError, match="split"):
        BTAD(btad_parent, "01", "validation")
    (base / "02" / "ground_truth" / "ko" / "0001.png").unlink()
    with pytest.raises(MaskError, match=r"0001\.png"):
        BTAD(btad_parent, "02", "test")
    for p in (base / "03" / "train" / "ok").iterdir():
        p.unlink()
    with pytest.raises(DatasetNotFoundError, match="no images"):
        BTAD(btad_parent, "03", "train")
    bad = corrupt(base / "01" / "test" / "ok" / "0001.bmp")
    assert_corrupt_named(BTAD(btad_parent, "01", "test"), bad)


# --------------------------------------------------------------------------------------- DAGM
def make_dagm(tmp_path: Path, header: str = "1") -> Path:
    root = tmp_path / "DAGM"
    spec = {"Train": [0, 1, 0, 0], "Test": [1, 0, 1]}
    for split, flags in spec.items():
        sdir = root / "Class3" / split
        lines = [header]
        for i, flag in enumerate(flags):
            name = f"{i + 1:04d}.PNG"
            write_image(sdir / name, gray=True)
            label = "0"
            if flag:
                label = f"{i + 1:04d}_label.PNG"
                write_mask(sdir / "Label" / label)
            lines.append(f"{i + 1}\t{flag}\t{name}\t0\t{label}")
        (sdir / "Label").mkdir(exist_ok=True)
        (sdir / "Label" / "Labels.txt").write_text("\n".join(lines) + "\n")
    (root / "Class1" / "Train").mkdir(parents=True)
    return root


def test_dagm_protocol(tmp_path):
    root = make_dagm(tmp_path)
    train = DAGM(root, "Class3", "train", image_size=None)
    assert len(train) == 3 and set(train.labels) == {0}  # the defective Train image is dropped
    assert "0002.PNG" not in [r.image_path.name for r in train.records]
    test = DAGM(root, 3, "test", image_size=None, normalize=None)
    assert test.labels.tolist() == [1, 0, 1] and test.defects == ["defect", "good", "defect"]
    assert [r.extra.get("weak_mask", False) for r in test.records] == [True, False, True]
    s = test[0]
    assert s["image"].shape == (3, H, W) and torch.equal(s["image"][0], s["image"][2])  # gray → RGB
    assert s["has_mask"] and s["mask"].sum().item() == 48
    image_level = DAGM(root, "Class3", "test", weak_masks=False)
    assert [s["has_mask"] for s in image_level] == [False, True, False]
    assert image_level[0]["mask"].sum() == 0


def test_dagm_labels_parsing(tmp_path):
    root = make_dagm(tmp_path, header="Id\tDefect\tImage\tx\tLabel")
    rows = read_labels(root / "Class3" / "Test" / "Label" / "Labels.txt")
    assert rows == [("0001.PNG", 1, "0001_label.PNG"), ("0002.PNG", 0, None), ("0003.PNG", 1, "0003_label.PNG")]


def test_dagm_errors(tmp_path):
    root = make_dagm(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="Class7.*Class1.*Class3"):
        DAGM(root, "Class7")
    with pytest.raises(DatasetNotFoundError, match="root not found"):
        DAGM(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match="Labels.txt"):
        DAGM(root, "Class1", "train")  # folder without labels
    (root / "Class3" / "Test" / "0002.PNG").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"0002\.PNG"):
        DAGM(root, "Class3", "test")
    bad = corrupt(root / "Class3" / "Train" / "0003.PNG")
    assert_corrupt_named(DAGM(root, "Class3", "train"), bad)


# ------------------------------------------------------------------------------------- Folder
@pytest.fixture
def user_root(tmp_path):
    root = tmp_path / "mine"
    for i in range(4):
        write_image(root / "good" / f"n{i}.png")
    for i in range(2):
        write_image(root / "bad" / f"b{i}.jpg")
        write_mask(root / "masks" / "bad" / f"b{i}.png")
    write_image(root / "scratch" / "s0.bmp")
    write_mask(root / "masks" / "s0_mask.png", box=(0, 2, 0, 2))
    return root


def test_folder_pool(user_root):
    ds = FolderDataset(user_root, split="test", image_size=None)
    assert ds.counts() == {"bad": 2, "good": 4, "scratch": 1}  # 'masks' is never a defect type
    assert [s["has_mask"] for s in ds if s["label"]] == [False] * 3
    only_bad = FolderDataset(user_root, normal_dir="good", abnormal_dir="bad", mask_dir=None, split="test")
    assert only_bad.counts() == {"bad": 2, "good": 4}
    masked = FolderDataset(user_root, split="test", mask_dir="masks", image_size=None)
    assert masked.counts() == {"bad": 2, "good": 4, "scratch": 1}
    by_defect = {s["defect"]: s for s in masked}
    assert by_defect["bad"]["has_mask"] and by_defect["bad"]["mask"].sum().item() == 48
    assert by_defect["scratch"]["mask"].sum().item() == 4  # found as s0_mask.png at the top level
    assert len(FolderDataset(user_root, split="train")) == 4
    assert len(FolderDataset(user_root, split="all")) == 7


def test_folder_seeded_split(user_root):
    train = FolderDataset(user_root, split="train", split_ratio=0.5, seed=3)
    test = FolderDataset(user_root, split="test", split_ratio=0.5, seed=3)
    train_paths = {r.image_path for r in train.records}
    test_normals = {r.image_path for r in test.records if r.label == 0}
    assert len(train_paths) == 2 and len(test_normals) == 2 and not train_paths & test_normals
    assert train_paths | test_normals == set((user_root / "good").iterdir())
    assert test.counts() == {"bad": 2, "good": 2, "scratch": 1}
    again = FolderDataset(user_root, split="train", split_ratio=0.5, seed=3)
    assert [r.image_path for r in again.records] == [r.image_path for r in train.records]
    paths = [Path(f"x{i}.png") for i in range(10)]
    a = split_normal_images(paths, 0.8, seed=1)
    assert a == split_normal_images(list(reversed(paths)), 0.8, seed=1)  # order-independent
    assert len(a[0]) == 8 and len(a[1]) == 2
    with pytest.raises(ValueError):
        split_normal_images(paths, 1.5)


def test_folder_train_test_layout(tmp_path):
    root = tmp_path / "tt"
    for i in range(3):
        write_image(root / "train" / "ok" / f"{i}.png")
    write_image(root / "test" / "ok" / "t.png")
    write_image(root / "test" / "dent" / "d.png")
    write_mask(root / "ground_truth" / "dent" / "d_mask.png")
    train = FolderDataset(root, split="train", normal_dir="ok")
    test = FolderDataset(root, split="test", normal_dir="ok", mask_dir="ground_truth")
    assert len(train) == 3 and test.counts() == {"dent": 1, "good": 1}
    assert test.records[-1].mask_paths[0].name == "d_mask.png"
    with pytest.raises(ValueError, match="split_ratio"):
        FolderDataset(root, split="train", normal_dir="ok", split_ratio=0.5)


def test_folder_errors(user_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nope"):
        FolderDataset(tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match="mask folder.*gt"):
        FolderDataset(user_root, mask_dir="gt")
    with pytest.raises(DatasetNotFoundError, match="crack"):
        FolderDataset(user_root, abnormal_dirs=["bad", "crack"])
    (user_root / "masks" / "bad" / "b1.png").unlink()
    with pytest.raises(MaskError, match=r"b1\.jpg"):
        FolderDataset(user_root, mask_dir="masks")
    with pytest.raises(DatasetNotFoundError, match="normal image folder.*normal.*'bad', 'good'"):
        FolderDataset(user_root, split="train", normal_dir="normal")
    for p in (user_root / "good").iterdir():
        p.unlink()
    with pytest.raises(DatasetNotFoundError, match="no images"):
        FolderDataset(user_root, split="train")
    write_image(user_root / "good" / "n2.png")
    bad = corrupt(user_root / "good" / "n2.png")
    assert_corrupt_named(FolderDataset(user_root, split="test"), bad)
