"""Saved anomaly maps: export in the official layout, read back, evaluate with the protocol; `adlib eval`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from adlib.cli import main
from adlib.data.catalog import open_dataset
from adlib.data.loco import MVTecLOCO
from adlib.data.synthetic import generate
from adlib.engine.saved_maps import (MapFileError, evaluate_saved_maps, export_maps, load_saved_maps, map_relpath,
                                     read_map, write_map)
from adlib.metrics import evaluate, evaluate_loco
from conftest import make_mvtec_category


def _maps_for(test, noise_seed=0, signal=0.6):
    """Noise plus a signal on the defects: one float map per test image at the dataset's size."""
    g = torch.Generator().manual_seed(noise_seed)
    masks = torch.stack([test[i]["mask"][0] for i in range(len(test))])
    return torch.rand(masks.shape, generator=g) + signal * masks, masks


@pytest.fixture
def folder(tmp_path):
    make_mvtec_category(tmp_path / "mine", "widget", size=24, n_good=3, defects={"scratch": 2, "dent": 2})
    return tmp_path / "mine"


def test_write_read_round_trip_and_formats(tmp_path):
    amap = np.linspace(-1, 3, 35, dtype=np.float32).reshape(5, 7)
    p = write_map(tmp_path / "a" / "000.tiff", torch.from_numpy(amap))
    assert Image.open(p).mode == "F" and Image.open(p).size == (7, 5)
    np.testing.assert_array_equal(read_map(p), amap)  # float32 TIFF: exact
    np.save(tmp_path / "b.npy", amap[None])  # 1×H×W is squeezed
    np.testing.assert_array_equal(read_map(tmp_path / "b.npy"), amap)
    Image.fromarray((np.arange(35).reshape(5, 7) * 7).astype(np.uint8)).save(tmp_path / "c.png")
    assert read_map(tmp_path / "c.png").shape == (5, 7)
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(MapFileError, match="single-channel"):
        read_map(tmp_path / "rgb.png")
    (tmp_path / "broken.tiff").write_bytes(b"not a tiff")
    with pytest.raises(MapFileError, match="cannot read"):
        read_map(tmp_path / "broken.tiff")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(MapFileError, match="H×W"):
        read_map(tmp_path / "cube.npy")
    assert map_relpath("/x/widget/test/dent/007.png", "widget").as_posix() == "widget/test/dent/007.tiff"


def test_export_then_evaluate_equals_in_memory_metrics(folder, tmp_path):
    test = open_dataset(str(folder), "widget", "test", image_size=None)
    maps, masks = _maps_for(test)
    files = export_maps(maps, test, tmp_path / "maps", progress=False)
    assert len(files) == len(test) and all(f.suffix == ".tiff" for f in files)
    assert (tmp_path / "maps/widget/test/dent/001.tiff").is_file()
    res = evaluate_saved_maps(tmp_path / "maps", str(folder), "widget", progress=False)
    labels = torch.tensor([test[i]["label"] for i in range(len(test))])
    direct = evaluate(maps, maps.flatten(1).amax(1), labels, masks > 0.5, test.defects)
    for name, r in direct.items():
        assert res["metrics"][name]["value"] == pytest.approx(r.value, abs=1e-12), name
        assert res["metrics"][name]["per_defect"] == pytest.approx(r.per_defect, abs=1e-12), name
    assert res["protocol"]["resolution"] == "original" and res["protocol"]["evaluated_at"] == [24, 24]
    assert res["protocol"]["maps_resized"] == "no" and res["protocol"]["image_score"] == "max"
    assert res["metrics"]["aupro"]["protocol"]["mode"] == "mvtec" and res["counts"]["per_defect"]["dent"] == 2
    json.dumps(res, allow_nan=False)  # JSON-ready

    legacy = evaluate_saved_maps(tmp_path / "maps", str(folder), "widget", aupro_mode="rd4ad_legacy", progress=False)
    assert legacy["metrics"]["aupro"]["protocol"]["scope"] == "per anomalous image, averaged"


def test_image_score_rule_of_saved_maps(folder, tmp_path):
    test = open_dataset(str(folder), "widget", "test", image_size=None)
    maps, masks = _maps_for(test, signal=0.3)
    export_maps(maps, test, tmp_path / "maps", progress=False)
    res = evaluate_saved_maps(tmp_path / "maps", str(folder), "widget", image_score="topk_mean:20", progress=False)
    labels = torch.tensor([test[i]["label"] for i in range(len(test))])
    top = maps.flatten(1).topk(20, dim=1).values.mean(1)
    direct = evaluate(maps, top, labels, masks > 0.5, test.defects)
    assert res["protocol"]["image_score"] == "topk_mean:20"
    assert res["metrics"]["image_auroc"]["value"] == pytest.approx(direct["image_auroc"].value, abs=1e-12)
    with pytest.raises(ValueError, match="image score"):
        evaluate_saved_maps(tmp_path / "maps", str(folder), "widget", image_score="mean", progress=False)


def test_low_resolution_maps_are_resized_to_the_ground_truth(folder, tmp_path):
    test16 = open_dataset(str(folder), "widget", "test", image_size=16)
    maps, _ = _maps_for(test16)
    export_maps(maps, test16, tmp_path / "native", size="as_is", progress=False)  # 16×16 files
    assert read_map(tmp_path / "native/widget/test/good/000.tiff").shape == (16, 16)
    res = evaluate_saved_maps(tmp_path / "native", str(folder), "widget", progress=False)
    assert res["protocol"]["saved_map_sizes"] == [[16, 16]] and res["protocol"]["evaluated_at"] == [24, 24]
    assert res["protocol"]["maps_resized"].startswith("bilinear")
    at16 = evaluate_saved_maps(tmp_path / "native", str(folder), "widget", resolution=16, progress=False)
    assert at16["protocol"]["evaluated_at"] == [16, 16] and at16["protocol"]["maps_resized"] == "no"
    assert at16["protocol"]["mask_interpolation"] == "nearest"
    # exported at the original size, the same maps give the original-resolution numbers
    export_maps(maps, test16, tmp_path / "orig", progress=False)
    assert read_map(tmp_path / "orig/widget/test/good/000.tiff").shape == (24, 24)
    again = evaluate_saved_maps(tmp_path / "orig", str(folder), "widget", progress=False)
    assert again["metrics"]["pixel_auroc"]["value"] == pytest.approx(res["metrics"]["pixel_auroc"]["value"], abs=1e-9)


def test_missing_maps_and_folder_are_errors(folder, tmp_path):
    test = open_dataset(str(folder), "widget", "test", image_size=None)
    maps, _ = _maps_for(test)
    files = export_maps(maps, test, tmp_path / "maps", progress=False)
    files[0].unlink()
    files[3].unlink()
    with pytest.raises(MapFileError, match="2 of 7 anomaly maps missing"):
        load_saved_maps(tmp_path / "maps", test, progress=False)
    np.save(files[0].with_suffix(".npy"), maps[0].numpy())  # other formats are found too
    Image.fromarray((maps[3].numpy() * 100).astype(np.uint8)).save(files[3].with_suffix(".png"))
    _, found = load_saved_maps(tmp_path / "maps", test, progress=False)
    assert {f.suffix for f in found} == {".tiff", ".npy", ".png"}
    with pytest.raises(MapFileError, match="not found"):
        evaluate_saved_maps(tmp_path / "nowhere", str(folder), "widget", progress=False)
    with pytest.raises(ValueError, match="maps for"):
        export_maps(maps[:2], test, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="category"):
        load_saved_maps(tmp_path / "maps", SimpleNamespace(records=test.records), progress=False)


def test_loco_maps_get_spro_and_the_logical_structural_split(tmp_path):
    root = tmp_path / "data"
    generate(root / "mvtec_loco", categories="tray", image_size=32, n_train=2, n_test_good=3, n_test_defect=2,
             n_validation=2, progress=False)
    test = MVTecLOCO(root / "mvtec_loco", "tray", "test", image_size=None)
    maps, masks = _maps_for(test)
    export_maps(maps, test, tmp_path / "maps", progress=False)
    assert (tmp_path / "maps/tray/test/logical_anomalies").is_dir()
    res = evaluate_saved_maps(tmp_path / "maps", "mvtec_loco", "tray", root=root, progress=False)
    samples = [test[i] for i in range(len(test))]
    direct = evaluate_loco(maps, maps.flatten(1).amax(1), [s["masks"] for s in samples],
                           [s["anomaly_kind"] for s in samples], test.defects_config,
                           orig_sizes=[s["orig_size"] for s in samples])
    assert set(res["metrics"]["spro"]["value"]) == {"logical", "structural", "mean"}
    for kind, areas in direct["spro"].value.items():
        for lim, v in areas.items():
            assert res["metrics"]["spro"]["value"][kind][str(lim)] == pytest.approx(v, abs=1e-12)
    assert res["metrics"]["loco_image_auroc"]["value"] == pytest.approx(direct["image_auroc"].value)
    assert res["metrics"]["loco_image_auroc"]["name"] == "loco_image_auroc"
    assert res["protocol"]["spro_fpr_limits"] == [0.01, 0.05, 0.1, 0.3, 1.0]


def test_cli_eval_prints_and_writes_json(folder, tmp_path, capsys):
    test = open_dataset(str(folder), "widget", "test", image_size=None)
    maps, _ = _maps_for(test)
    export_maps(maps, test, tmp_path / "maps", progress=False)
    out = tmp_path / "res" / "widget.json"
    rc = main(["eval", "--maps", str(tmp_path / "maps"), "--dataset", str(folder), "--category", "widget",
               "--resolution", "12", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0 and "evaluated at 12×12" in printed and "aupro" in printed and "(mvtec, FPR ≤ 0.3)" in printed
    res = json.loads(out.read_text())
    assert res["schema"] == "adlib.saved_maps_evaluation" and res["protocol"]["resolution"] == [12, 12]
    assert res["protocol"]["image_score"] == "max"
    top = tmp_path / "res" / "top.json"
    assert main(["eval", "--maps", str(tmp_path / "maps"), "--dataset", str(folder), "--category", "widget",
                 "--image-score", "topk_mean:5", "--out", str(top), "--no-progress"]) == 0
    assert "image score = topk_mean:5" in capsys.readouterr().out
    assert json.loads(top.read_text())["protocol"]["image_score"] == "topk_mean:5"
    assert main(["eval", "--maps", str(tmp_path / "none"), "--dataset", str(folder), "--category", "widget",
                 "--no-progress"]) == 1
    assert "anomaly-map folder not found" in capsys.readouterr().err
