"""tools/fidelity_study.py (issue 21's MTD teacher study): which cells a profile covers, and how the report
summarises the results it finds (mean ± std over seeds, missing seeds listed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlib.reproduce.schema import ConfigError
from conftest import load_script


@pytest.fixture(scope="module")
def study():
    return load_script("tools/fidelity_study.py")


def test_a_profile_of_one_table_covers_only_that_table(study):
    cells = study.load_cells("cpu_full_bank")
    assert cells and {t for t, _ in cells} == {"knn"}
    assert all("bank_fraction" not in c.tag for _, c in cells)  # the whole bank, as the gpu set
    assert all("bank_fraction=0.25" in c.tag for _, c in study.load_cells("cpu", ["knn"]))
    assert {t for t, _ in study.load_cells("cpu")} > {"knn", "teacher", "levels"}
    with pytest.raises(ConfigError, match="no profile 'cpu_full_bank'"):
        study.load_cells("cpu_full_bank", ["teacher"])  # named, so not silently skipped


def _write(path: Path, image_auroc: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "metrics": {"image_auroc": {"value": image_auroc}, "pixel_auroc": {"value": 0.8}, "aupro": None},
        "weights": {"source": "pypi:x", "sha256": "0" * 64}, "env": {"cpu_model": "test", "torch_threads": 1},
        "git_commit": "0" * 40, "timings": {"train_s": 100.0}}))


def test_summary_means_seeds_and_lists_the_missing_ones(study, tmp_path):
    cells = [c for t, c in study.load_cells("cpu", ["teacher"])
             if c.method == "rd" and c.config.get("backbone", "efficientnet_lite0") == "efficientnet_lite1"]
    assert sorted(c.run["seed"] for c in cells) == [0, 1, 2]
    for c, v in zip(cells[:2], (0.90, 0.94)):
        _write(c.results_path(tmp_path), v)
    s = study.summarise("cpu", [str(tmp_path)], ["teacher"])
    row = next(r for r in s["rows"] if r["method"] == "rd" and r["value"] == "efficientnet_lite1")
    ms = row["metrics"]["image_auroc"]
    assert (ms["mean"], ms["n"]) == (92.0, 2) and ms["std"] == pytest.approx(2.83, abs=0.01)
    assert row["metrics"]["aupro"]["n"] == 0  # no value: not a zero
    assert row["seeds_done"] == [0, 1] and row["seeds_missing"] == [2]
    assert row["estimated_s_missing"] is not None and row["estimated_s_missing"] > 0
    md = study.markdown(s)
    assert "| teacher | efficientnet_lite1 | rd | lite1 | 92.0 ± 2.8 (2) | 80.0 ± 0.0 (2) | — | [2] (" in md


def test_another_papers_run_serves_a_cell_only_with_its_run_config(study, tmp_path):
    """A folder of another paper's runs (e.g. the five-method table's RD at `offline_best`) fills a study cell of the
    same tag only when it records the cell's method and model settings (the same tag there can be another model)
    and ran on the machine of the set's own runs (a set is one machine's numbers)."""
    cells = [c for t, c in study.load_cells("gpu", ["offline_best"]) if c.run["seed"] == 0 and c.method == "rd"]
    cell = next(c for c in cells if c.config.get("backbone") == "efficientnet_lite1" and c.run["epochs"] == 80)
    own_cell = next(c for c in cells if c.config.get("backbone") == "efficientnet_lite2")
    h200 = {"gpu_name": "NVIDIA H200"}
    own = own_cell.results_path(tmp_path / "own")
    _write(own, 0.9)
    own.write_text(json.dumps({**json.loads(own.read_text()), "env": h200}))
    other = tmp_path / "other"
    path = other / "rd_variance_loss" / "mtd" / "mtd" / cell.tag / "seed0" / "results.json"
    _write(path, 0.95)
    doc = {**json.loads(path.read_text()), "paper": "rd_variance_loss", "method": "rd"}
    mtd = {"dataset": cell.run["dataset"], "category": cell.run["category"]}
    for config, env, where, served in (({**cell.config, "decoder_out_act": "none"}, h200, mtd, False),
                                       (dict(cell.config), {"gpu_name": "NVIDIA H100 80GB HBM3"}, mtd, False),
                                       (dict(cell.config), h200, {"dataset": "synthetic", "category": "weave"}, False),
                                       (dict(cell.config), h200, mtd, True)):
        path.write_text(json.dumps({**doc, "config": config, "env": env, **where}))
        s = study.summarise("gpu", [str(tmp_path / "own"), str(other)], ["offline_best"])
        row = next(r for r in s["rows"] if r["tag"] == cell.tag and r["method"] == "rd")
        assert (0 in row["seeds_done"]) is served
        assert (row.get("runs_of") == ["rd_variance_loss"]) is served
    assert "| rd (runs of rd_variance_loss) | lite1 | 95.0 (1) |" in study.markdown(s)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_the_base_cell_is_one_run_shared_by_every_trained_table(study, profile):
    """One factor at a time around one base: each trained table holds the base cell under the same name, with the
    ReLU-ended decoder (the results already recorded carry that name; a method default that changes must not
    silently move the base and orphan them)."""
    by_table: dict[str, set[str]] = {}
    for table, cell in study.load_cells(profile):
        if table != "knn" and cell.method == "rd" and cell.run["seed"] == 0:
            by_table.setdefault(table, set()).add(cell.tag)
    assert set(by_table) == {"decoder", "epochs", "levels", "size", "teacher", "offline_best"}
    common = set.intersection(*by_table.values())
    assert len(common) == 1, common
    assert "decoder_out_act" not in next(iter(common))  # relu: the tag leaves it out


def test_knn_points_group_by_taps_and_bank_and_keep_one_size(study):
    row = lambda value, tag, v: {"method": "knn", "value": value, "tag": tag, "metrics": {"image_auroc": {"mean": v}}}
    sets = {"cpu": {"rows": [
        row("efficientnet_lite1 / default levels / 128 px", "knn__backbone=efficientnet_lite1__bank_fraction=0.25", 94.1),
        row("efficientnet_lite0 / default levels / 128 px", "knn__bank_fraction=0.25", 93.5),
        row("efficientnet_lite0 / [2, 3, 4] / 128 px", "knn__layers=[2,3,4]", 97.0),
        row("efficientnet_lite0 / default levels / 256 px", "knn__image_size=256", 92.5),
        {"method": "rd", "value": "x", "tag": "rd", "metrics": {"image_auroc": {"mean": 90.0}}}]}}
    assert study.knn_points(sets) == {
        ("cpu", "stages 1-2-3, bank ×0.25"): [("lite0", 93.5), ("lite1", 94.1)],
        ("cpu", "stages [2, 3, 4], whole bank"): [("lite0", 97.0)]}
