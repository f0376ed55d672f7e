"""MTD conversion (MRKD protocol): split, layout, masks; on a fake raw copy and on the real one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlib.data.errors import DatasetNotFoundError, MaskError
from adlib.data.mtd import MTD_DEFECTS, prepare_mtd, split_normals
from adlib.data.mvtec import MVTecAD
from conftest import SHARED

REPO = Path(__file__).resolve().parents[1]
MTD_RAW = SHARED / "datasets" / "mtd_raw"


def fake_mtd(root: Path, n_free: int = 10, n_defect: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for folder, n in [("MT_Free", n_free)] + [(f, n_defect) for f in MTD_DEFECTS]:
        imgs = root / folder / "Imgs"
        imgs.mkdir(parents=True)
        for i in range(n):
            h, w = 30 + i, 40
            Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(imgs / f"exp0_num_{i}.jpg")
            m = np.zeros((h, w), np.uint8)
            if folder != "MT_Free":
                m[5:10, 5:15] = 255
                m[5, 20] = 40  # edge noise below the threshold
            Image.fromarray(m).save(imgs / f"exp0_num_{i}.png")
    return root


def test_split_is_seeded_and_order_independent():
    stems = [f"s{i}" for i in range(100)]
    tr, te = split_normals(stems, seed=3)
    assert len(tr) == 80 and len(te) == 20 and not set(tr) & set(te)
    assert split_normals(list(reversed(stems)), seed=3) == (tr, te)
    assert split_normals(stems, seed=4) != (tr, te)
    with pytest.raises(ValueError):
        split_normals(stems, train_fraction=1.0)


def test_prepare_fake_mtd(tmp_path):
    src = fake_mtd(tmp_path / "raw")
    out = prepare_mtd(src, tmp_path / "data", size=16, progress=False)
    split = json.loads((out / "split.json").read_text())
    assert split["counts"]["train/good"] == 8 and split["counts"]["test/good"] == 2
    train = MVTecAD(tmp_path / "data", "mtd", "train", image_size=None)
    test = MVTecAD(tmp_path / "data", "mtd", "test", image_size=None)
    assert len(train) == 8 and train.labels.sum() == 0
    assert test.counts() == {"blowhole": 2, "break": 2, "crack": 2, "fray": 2, "good": 2, "uneven": 2}
    s = test[0]
    assert s["image"].shape == (3, 16, 16)
    masks = [test[i]["mask"] for i in range(len(test)) if test[i]["label"] == 1]
    assert all(m.sum() > 0 for m in masks)
    raw_mask = np.asarray(Image.open(out / "ground_truth/crack/exp0_num_0_mask.png"))
    assert set(np.unique(raw_mask)) == {0, 255}
    assert sorted(p.stem for p in (out / "train/good").iterdir()) == sorted(split["train_good"])
    # same settings: no-op; other settings: refuse unless overwrite
    assert prepare_mtd(src, tmp_path / "data", size=16, progress=False) == out
    with pytest.raises(FileExistsError):
        prepare_mtd(src, tmp_path / "data", size=32, progress=False)
    prepare_mtd(src, tmp_path / "data", size=None, overwrite=True, progress=False)
    assert (out / "train/good").iterdir().__next__().suffix == ".jpg"


def test_interrupted_preparation_is_never_used(tmp_path, monkeypatch):
    """A killed preparation leaves no half dataset under the category's name, and a damaged one is
    found on open and redone (issue 14: 168 of 762 training images were used as complete)."""
    from adlib.data import catalog, mtd
    from adlib.data.mtd import incomplete_mtd

    src = fake_mtd(tmp_path / "raw")
    calls = {"n": 0}
    real = mtd._write_image

    def killed(*args, **kwargs):  # the preparation dies after three images
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mtd, "_write_image", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_mtd(src, tmp_path / "data", size=16, progress=False)
    assert not (tmp_path / "data" / "mtd").exists() and list((tmp_path / "data").iterdir()) == []
    monkeypatch.setattr(mtd, "_write_image", real)

    out = prepare_mtd(src, tmp_path / "data", size=16, progress=False)
    assert incomplete_mtd(out) is None
    victim = next((out / "test" / "crack").iterdir())
    victim.unlink()  # damaged afterwards (or an older, unprotected interrupted run)
    assert f"1 of its 31 files are missing, e.g. {victim}" in incomplete_mtd(out)
    monkeypatch.setattr(catalog, "shared_mtd_raw", lambda: None)  # no raw copy: a clear error, no silent use
    with pytest.raises(DatasetNotFoundError, match="incomplete or damaged.*test/crack.*adlib data prepare"):
        catalog.open_dataset("mtd", "mtd", "test", root=tmp_path / "data", image_size=16)
    monkeypatch.setattr(catalog, "shared_mtd_raw", lambda: src)  # raw copy present: prepared again
    with pytest.warns(UserWarning, match="preparing it again"):
        test = catalog.open_dataset("mtd", "mtd", "test", root=tmp_path / "data", image_size=16)
    assert test.counts()["crack"] == 2 and incomplete_mtd(out) is None
    assert json.loads((out / "split.json").read_text())["params"]["size"] == 16  # redone with its own settings
    (out / "split.json").unlink()  # part of the file list: redone by prepare_mtd too
    assert "split.json" in incomplete_mtd(out)
    prepare_mtd(src, tmp_path / "data", size=16, progress=False)
    assert incomplete_mtd(out) is None
    (out / "split.json").unlink()
    (out / ".adlib_manifest.json").unlink()  # neither list: not recognisably ours, never deleted
    with pytest.raises(FileExistsError, match="no split.json"):
        prepare_mtd(src, tmp_path / "data", size=16, progress=False)
    # a killed preparation's hidden folder is cleaned up by the next one once its process is gone
    stale = tmp_path / "data" / ".mtd.partial-999999999-0123abcd"
    stale.mkdir()
    prepare_mtd(src, tmp_path / "data", size=16, progress=False, overwrite=True)
    assert not stale.exists() and sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mtd"]


def test_prepare_mtd_bad_input(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not found"):
        prepare_mtd(tmp_path / "missing", tmp_path / "out", progress=False)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DatasetNotFoundError, match="MT_Free"):
        prepare_mtd(tmp_path / "nothing", tmp_path / "out", progress=False)
    src = fake_mtd(tmp_path / "raw")
    (src / "MT_Crack/Imgs/exp0_num_1.png").unlink()
    with pytest.raises(MaskError, match="exp0_num_1.jpg has no mask"):
        prepare_mtd(src, tmp_path / "out", progress=False)
    src2 = fake_mtd(tmp_path / "raw2")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(src2 / "MT_Fray/Imgs/exp0_num_0.png")
    with pytest.raises(MaskError, match="exp0_num_0.png"):
        prepare_mtd(src2, tmp_path / "out2", progress=False)


@pytest.mark.real_data
@pytest.mark.skipif(not MTD_RAW.is_dir(), reason="../shared/datasets/mtd_raw not present")
def test_prepare_real_mtd_with_script(tmp_path):
    cmd = [sys.executable, str(REPO / "data_scripts/prepare_mtd.py"), "--src", str(MTD_RAW),
           "--dst", str(tmp_path), "--size", "64", "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "MTD ready" in res.stdout
    split = json.loads((tmp_path / "mtd/split.json").read_text())
    n_free = len(list((MTD_RAW / "MT_Free/Imgs").glob("*.jpg")))
    assert split["counts"]["train/good"] == round(0.8 * n_free)
    assert split["counts"]["train/good"] + split["counts"]["test/good"] == n_free
    test = MVTecAD(tmp_path, "mtd", "test", image_size=64)
    assert int(test.labels.sum()) == 392  # all defective images (MRKD §4.1)
    anomalous = [i for i in range(len(test)) if test.records[i].label == 1]
    nonempty = sum(bool(test[i]["mask"].sum() > 0) for i in anomalous[::10])
    assert nonempty >= 0.9 * len(anomalous[::10])
