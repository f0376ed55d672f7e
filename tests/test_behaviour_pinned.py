"""Behaviour pinned across refactors: two quick cells re-run with today's code must give the metrics,
final losses and evaluation variants recorded before the method platform was restructured
(``tests/data/pinned_quick_cells.json``, computed at commit f0b10c7). A change that moves any
number here changes results, and must say why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from adlib.data.synthetic import generate
from adlib.engine.env import cpu_signature
from adlib.experiment import run_experiment

PINNED = json.loads((Path(__file__).parent / "data" / "pinned_quick_cells.json").read_text())


def pinned_for_this_cpu() -> dict:
    """The pinned numbers of this CPU: the top level for Intel (where they were first recorded), else ``by_cpu``."""
    sig = cpu_signature()
    if sig in PINNED.get("by_cpu", {}):
        return PINNED["by_cpu"][sig]
    if sig.startswith("GenuineIntel/"):
        return PINNED
    pytest.skip(f"no pinned numbers for this CPU ({sig}): compute them with the pinned commit's code, then add them "
                "to tests/data/pinned_quick_cells.json under by_cpu")


@pytest.fixture(scope="module")
def weave_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    generate(root / "synthetic", "weave", progress=False)
    return root


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the pinned numbers were computed with one thread
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mrkd", "rd_var"])
def test_quick_cell_unchanged(method, weave_root, one_thread):
    # decoder_out_act="relu": the pinned numbers predate the "auto" default (linear ends for Lite0)
    res = run_experiment(method, {"backbone": "efficientnet_lite0", "decoder_out_act": "relu"}, paper="pin", dataset="synthetic",
                         category="weave", image_size=64, epochs=1, batch_size=8, seed=0, root=weave_root,
                         progress=False)
    want = pinned_for_this_cpu()[method]
    got = {k: v["value"] for k, v in res["metrics"].items()}
    assert got == pytest.approx(want["metrics"], rel=0, abs=1e-12)
    assert res["extra"]["loss_final"] == pytest.approx(want["loss_final"], rel=0, abs=1e-12)
    variants = {k: v["metrics"] for k, v in (res["extra"].get("variants") or {}).items()}
    assert sorted(variants) == sorted(want["variants"])
    for name, metrics in want["variants"].items():
        assert variants[name] == pytest.approx(metrics, rel=0, abs=1e-12), name
