"""Decoded datasets shared across the cells of a run (issue 22 point 2): ``shared_decoding``."""

from __future__ import annotations

import pytest
import torch

import adlib.data.base as base
from adlib.data import shared_decoding
from adlib.data.mvtec import MVTecAD
from adlib.experiment import run_experiment

from conftest import make_mvtec_category


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    make_mvtec_category(root, size=64, n_train=6, n_good=3, defects={"scratch": 3})
    return root


@pytest.fixture
def reads(monkeypatch):
    """How many images were decoded from disk."""
    count = [0]
    real = base.read_image

    def counting(path):
        count[0] += 1
        return real(path)

    monkeypatch.setattr(base, "read_image", counting)
    return count


def decode_all(ds):
    return [ds[i]["image"] for i in range(len(ds))]


def test_splits_are_decoded_once_inside_the_block(root, reads):
    with shared_decoding():
        a = MVTecAD(root, "widget", "test", image_size=64, cache=True)
        decode_all(a)
        assert reads[0] == len(a)
        b = MVTecAD(root, "widget", "test", image_size=64, cache=True, normalize="unit")
        unit = decode_all(b)
        assert reads[0] == len(a)  # same files and size: nothing decoded again
        assert torch.equal(unit[0], b[0]["image"]) and unit[0].min() >= 0  # its own normalisation
        decode_all(MVTecAD(root, "widget", "test", image_size=32, cache=True))
        assert reads[0] == 2 * len(a)  # another size: decoded anew
    assert base._SHARED is None
    decode_all(MVTecAD(root, "widget", "test", image_size=64, cache=True))
    assert reads[0] == 3 * len(a)  # outside the block each dataset decodes its own


def test_the_store_keeps_the_most_recent_splits(root, reads):
    with shared_decoding(max_splits=1):
        decode_all(MVTecAD(root, "widget", "test", image_size=64, cache=True))
        decode_all(MVTecAD(root, "widget", "train", image_size=64, cache=True))
        n = reads[0]
        decode_all(MVTecAD(root, "widget", "test", image_size=64, cache=True))  # dropped: decoded again
        assert reads[0] > n and len(base._SHARED) == 1


def cell(root, out, **config):
    return run_experiment("mrkd", {"backbone": "efficientnet_lite0", "weights": "random", **config}, paper="p",
                          dataset=str(root), category="widget", image_size=64, steps=3, batch_size=4,
                          progress=False, device="cpu", output_dir=out)


def comparable(res: dict) -> dict:
    """Metrics (without their timings), variants, losses and every image score."""
    metrics = {k: {**v, "protocol": {p: x for p, x in v["protocol"].items() if not p.startswith("seconds")}}
               for k, v in res["metrics"].items()}
    return {"metrics": metrics, "extra": res["extra"]}


def test_cells_sharing_decoded_data_give_the_results_of_cells_that_do_not(root, tmp_path, reads, monkeypatch):
    """Two MRKD cells (NSA synthesis reads the decoded training images) in one block, against each alone."""
    monkeypatch.delenv("ADLIB_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    alone = [cell(root, tmp_path / "alone"), cell(root, tmp_path / "alone2", flm_ratio=0.3)]
    n_alone = reads[0]
    with shared_decoding():
        shared = [cell(root, tmp_path / "shared"), cell(root, tmp_path / "shared2", flm_ratio=0.3)]
    assert reads[0] - n_alone == n_alone // 2  # the second cell decoded nothing
    for a, s in zip(alone, shared):
        assert comparable(a) == comparable(s)
    assert alone[0]["env"]["torch_threads"] == torch.get_num_threads()  # set by run_experiment, and recorded
    assert alone[0]["env"]["torch_threads_source"] == "OMP_NUM_THREADS"


def test_run_grid_runs_its_cells_inside_the_block(tmp_path, monkeypatch):
    from adlib.reproduce import grid

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    seen = []
    monkeypatch.setattr(grid, "_run_cell", lambda cell, out: seen.append(base._SHARED is not None) or "done")
    small = {"extends": None, "data": {"dataset": "synthetic", "categories": ["weave"], "image_size": 32},
             "method": {"backbone": "efficientnet_lite0"}, "fit": {"steps": 2, "batch_size": 4}}
    cfg = {"paper": "rd_variance_loss", "table": "IV", "method": {"name": "rd_var"}, "profiles": {"small": small},
           "grid": {"batch_size": [4, 8]}, "seeds": [0]}
    grid.run_grid(cfg, "small", tmp_path / "runs", progress=False)
    assert seen == [True, True] and base._SHARED is None
