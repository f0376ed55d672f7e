"""open_dataset: names, folders, on-demand synthetic data and helpful errors."""

from __future__ import annotations

import pytest

from adlib.data.catalog import open_dataset
from adlib.data.errors import DatasetNotFoundError
from conftest import make_mvtec_category


def test_synthetic_generated_on_demand_and_reused(tmp_path):
    ds = open_dataset("synthetic", "weave", "train", root=tmp_path, image_size=32)
    assert len(ds) > 0 and ds[0]["image"].shape == (3, 32, 32)
    assert (tmp_path / "synthetic/weave/synthetic.json").is_file()
    again = open_dataset("synthetic", "weave", "test", root=tmp_path, image_size=64)
    assert again[0]["image"].shape == (3, 64, 64)


def test_synthetic_loco_category_opens_with_its_masks(tmp_path):
    test = open_dataset("synthetic", "tray", "test", root=tmp_path, image_size=32)
    kinds = {test[i]["anomaly_kind"] for i in range(len(test))}
    assert kinds == {"good", "logical", "structural"}
    anomalous = next(test[i] for i in range(len(test)) if test[i]["label"] == 1)
    assert anomalous["masks"].shape[0] >= 1 and anomalous["masks"].shape[-2:] == (32, 32)
    assert int(anomalous["masks"].max()) in test.defects_config


def test_folder_path_and_errors(tmp_path):
    make_mvtec_category(tmp_path / "mine", "widget")
    assert len(open_dataset(str(tmp_path / "mine"), "widget", "test", image_size=16)) == 4
    with pytest.raises(DatasetNotFoundError, match="download_mvtec_ad.py"):
        open_dataset("mvtec_ad", "bottle", "test", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="unknown dataset"):
        open_dataset("imagenet", "cat")
