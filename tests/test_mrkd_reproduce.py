"""MRKD's tables in the runner: configs ↔ reference numbers, evaluation-variant cells (Table 7)."""

import pytest

from adlib.engine import write_results
from adlib.experiment import results_path
from adlib.reference import load_reference
from adlib.reproduce import expand, load_config
from adlib.reproduce.grid import collect, variant_view
from adlib.reproduce.report import build_report, reference_setting
from adlib.reproduce.schema import config_dir

from test_report import _results

ROOT = config_dir() / "mrkd"


def test_every_mrkd_config_maps_onto_reference_settings():
    ref = load_reference("mrkd")["values"]
    tables = set()
    for f in sorted(ROOT.glob("*.yaml")):
        cfg = load_config(f)
        tables.add(str(cfg["table"]))
        known = {r["setting"] for r in ref if r["table"] == str(cfg["table"])}
        mapped = {reference_setting(c.setting, c.method) for c in expand(cfg, "full")}
        if str(cfg["table"]) == "11":  # Fig. 11: a curve without numbers
            assert not known
            continue
        assert mapped == known, (f.name, mapped ^ known)
    assert tables == {"1", "2", "3", "4", "5", "6", "7", "8", "11"}


def test_variant_cells_share_one_training():
    cfg = load_config(ROOT / "table7.yaml")
    cells = expand(cfg, "small")
    assert len({c.tag for c in cells}) == 1
    assert [c.variant for c in cells] == ["SM1", "SM2", "SM3", "SM1&2", "SM2&3", None]
    t3 = expand(load_config(ROOT / "table3.yaml"), "small")
    t5 = expand(load_config(ROOT / "table5.yaml"), "small")
    assert t3[0].tag == cells[0].tag == [c for c in t5 if c.setting == {"ilm": True, "flm": True}][0].tag


def test_report_reads_variant_metrics(tmp_path):
    cfg = {"paper": "mrkd", "table": "7", "method": {"name": "mrkd"}, "main_variant": "SM1&2&3",
           "profiles": {"small": {"data": {"image_size": 64}, "fit": {"epochs": 1, "batch_size": 8}}},
           "grid": {"variant": ["SM1", "SM2", "SM1&2&3"]}, "seeds": [0]}
    cells = expand(cfg, "small")
    res = _results(cells[0], 0.9, 0.95)
    res["extra"] = {"variants": {"SM1": {"overrides": {"score_levels": [0]},
                                         "metrics": {"image_auroc": 0.7, "pixel_auroc": 0.8}}}}
    path = results_path(tmp_path, "mrkd", "mtd", "mtd", cells[0].tag, 0)
    write_results(res, path)
    assert variant_view(res, None) is res and variant_view(res, "SM2") is None
    rows = {r["variant"]: r["metrics"] for r in collect(cfg, "small", tmp_path)}
    assert rows == {"SM1": {"image_auroc": 0.7, "pixel_auroc": 0.8}, None: {"image_auroc": 0.9, "pixel_auroc": 0.95}}
    rep = build_report([cfg], tmp_path, "small")
    by = {(r["setting"], r["metric"]): r for r in rep["tables"][0]["rows"]}
    assert abs(by[("variant=SM1", "image_auroc")]["ours_mean"] - 70.0) < 1e-9
    assert abs(by[("variant=SM1&2&3", "image_auroc")]["ours_mean"] - 90.0) < 1e-9
    sm2 = [r for r in rep["tables"][0]["rows"] if r["setting"] == "variant=SM2"]
    assert sm2 and all(r["status"].startswith("failed: the run did not evaluate variant") for r in sm2)


def test_alpha_zero_shares_the_ilm_free_run():
    t6 = {c.setting["alpha"]: c.tag for c in expand(load_config(ROOT / "table6.yaml"), "small")}
    t5 = {(c.setting["ilm"], c.setting["flm"]): c.tag for c in expand(load_config(ROOT / "table5.yaml"), "small")}
    assert t6[0.0] == t5[(False, True)] and t6[1.0] == t5[(True, True)]
    assert len(set(t6.values())) == 6


def test_batch_runs_of_notebook_02_skip_the_teaching_models(tmp_path):
    pytest.importorskip("papermill")  # jobs_for reads the notebook's parameters through papermill
    from adlib.reproduce.jobs import jobs_for

    jobs = jobs_for(load_config(ROOT / "table5.yaml"), "small", tmp_path)
    assert jobs and all(j.parameters["teach"] is False for j in jobs)
    assert {(j.parameters["ilm"], j.parameters["flm"]) for j in jobs} == {(False, False), (False, True), (True, False), (True, True)}
