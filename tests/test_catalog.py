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


def test_folder_path_and_errors(tmp_path):
    make_mvtec_category(tmp_path / "mine", "widget")
    assert len(open_dataset(str(tmp_path / "mine"), "widget", "test", image_size=16)) == 4
    with pytest.raises(DatasetNotFoundError, match="download_mvtec_ad.py"):
        open_dataset("mvtec_ad", "bottle", "test", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="unknown dataset"):
        open_dataset("imagenet", "cat")
