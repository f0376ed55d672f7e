"""DAF's tables in the runner: configs ↔ reference numbers (baselines kept apart), evaluation-variant
cells (Table VI), equivalent settings sharing one training, the profiles."""

from __future__ import annotations

import pytest

from adlib.reference import load_reference
from adlib.reproduce import expand, load_config, profile_names
from adlib.reproduce.report import reference_setting
from adlib.reproduce.schema import config_dir

ROOT = config_dir() / "daf"
TABLES = {"II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI"}


def test_every_daf_config_maps_onto_reference_settings():
    ref = load_reference("daf")
    tables = set()
    for f in sorted(ROOT.glob("*.yaml")):
        cfg = load_config(f)
        table = str(cfg["table"])
        tables.add(table)
        known = {r["setting"] for r in ref["values"] if r["table"] == table}
        mapped = {reference_setting(c.setting, c.method) for c in expand(cfg, "full")}
        if table == "1c":  # Fig. 1(c): a figure without numbers
            assert not known
            continue
        assert mapped == known, (f.name, mapped ^ known)
    assert tables == TABLES | {"1c"}
    assert {r["table"] for r in ref["values"]} == TABLES


def test_reference_numbers_and_baselines():
    ref = load_reference("daf")
    keys = {"table", "dataset", "category", "setting", "metric", "value"}
    assert all(set(r) == keys for r in ref["values"])
    one = lambda table, setting, metric, category="average": [  # noqa: E731
        r["value"] for r in ref["values"] if (r["table"], r["setting"], r["metric"], r["category"]) ==
        (table, setting, metric, category)]
    assert one("II", "synthesis=dra", "aupro") == [93.0] and one("II", "synthesis=dra", "params_m") == [4.4]
    assert one("V", "ablation=seg_only", "aupro") == [75.1] and one("XI", "kd_loss=ssim", "pixel_ap") == [67.0]
    assert one("III", "synthesis=simple_shape", "pixel_ap", "screw") == [42.1]
    assert one("IV", "synthesis=simple_texture", "image_auroc", "Class8") == [88.0]
    per_class = [r for r in ref["values"] if r["table"] == "III" and r["category"] != "average"]
    assert len(per_class) == 3 * 3 * 15
    base = ref["baselines"]  # other methods' rows: a method name, never matched to our cells
    assert all(r["method"] != "DAF" and "method" in r for r in base)
    assert {r["method"] for r in base if r["table"] == "III"} == {"DRÆM*", "NSA*", "DRÆM"}
    assert [r["value"] for r in base if (r["table"], r["method"], r["synthesis"], r["metric"], r["category"]) ==
            ("IV", "NSA*", "dra", "image_auroc", "Class9")] == [51.4]


def test_variant_cells_share_one_training():
    cells = expand(load_config(ROOT / "table6.yaml"), "small")
    assert len({c.tag for c in cells}) == 3 and len(cells) == 9
    assert [c.variant for c in cells if c.setting["synthesis"] == "dra"] == ["discrepancy", "segmentation", None]
    t2 = {c.setting["synthesis"]: c.tag for c in expand(load_config(ROOT / "table2.yaml"), "small")}
    t5 = {c.setting["ablation"]: c.tag for c in expand(load_config(ROOT / "table5.yaml"), "small")}
    assert t2["dra"] == t5["none"] == [c.tag for c in cells if c.setting["synthesis"] == "dra"][0]


def test_equivalent_settings_share_one_run():
    t5 = {c.setting["ablation"]: c.tag for c in expand(load_config(ROOT / "table5.yaml"), "full")}
    no_aux = expand({**load_config(ROOT / "table5.yaml"), "grid": {"aux": [False]}}, "full")[0].tag
    assert t5["no_aux"] == no_aux and "ablation" not in no_aux
    seg_cos = expand({**load_config(ROOT / "table5.yaml"), "grid": {"ablation": ["seg_only"], "kd_loss": ["cos"]}},
                     "full")[0].tag
    assert seg_cos == t5["seg_only"]  # the segmentation-only network has no T-S loss to change
    assert len(set(t5.values())) == 4


def test_profiles_follow_the_recipe():
    cell = expand(load_config(ROOT / "table2.yaml"), "full")[0]
    assert cell.config == {"backbone": "resnet18", "texture_source": "dtd", "synthesis": "nsa_b"}
    assert cell.run["dataset"] == "mvtec_ad" and cell.run["image_size"] == 256 and cell.run["epochs"] == 1200
    assert cell.run["batch_size"] == 8 and cell.run["aupro_mode"] == "daf_legacy"
    dagm = expand(load_config(ROOT / "table4.yaml"), "full")
    assert {c.run["dataset"] for c in dagm} == {"dagm"} and len({c.run["category"] for c in dagm}) == 10
    for profile, (size, epochs) in {"small": (128, 16), "quick": (64, 12), "gpu": (256, 60)}.items():
        c = expand(load_config(ROOT / "table5.yaml"), profile)[0]
        assert (c.run["image_size"], c.run["epochs"], c.run["batch_size"]) == (size, epochs, 8), profile
        assert c.config["backbone"] == "efficientnet_lite0" and c.config["texture_source"] == "procedural"
        assert c.config.get("lr") == (0.002 if profile == "quick" else None), profile  # quick: notebook 03's CPU lr
    assert not any("quick_mtd" in profile_names(load_config(f)) for f in ROOT.glob("*.yaml"))  # no DAF MTD smoke


def test_batch_runs_of_notebook_03_train_only_the_configured_model_at_the_methods_lr(tmp_path):
    pytest.importorskip("papermill")  # jobs_for reads the notebook's parameters through papermill
    from adlib.cli import _names_notebook
    from adlib.methods import config_class
    from adlib.reproduce.jobs import jobs_for

    assert _names_notebook("daf/table5")  # adlib reproduce runs the DAF tables through notebook 03
    jobs = jobs_for(load_config(ROOT / "table5.yaml"), "quick", tmp_path)
    assert {j.parameters["ablation"] for j in jobs} == {"ts_only", "seg_only", "no_aux", "none"}
    assert all(j.parameters["teach"] is False for j in jobs)
    # the notebook's CPU lr is not the method's: batch runs pass the default, so the results match their tags
    assert {j.parameters["lr"] for j in jobs} == {config_class("daf")().lr} and jobs[0].defaults["lr"] != jobs[0].parameters["lr"]
    t7 = jobs_for(load_config(ROOT / "table7.yaml"), "full", tmp_path / "full")
    assert {j.parameters["method_overrides"]["seg_discrepancy_input"] for j in t7} == {False, True}
    assert {j.parameters["synthesis"] for j in t7} == {"dra", "simple_texture", "simple_shape"}
    t6 = jobs_for(load_config(ROOT / "table6.yaml"), "quick", tmp_path / "t6")
    assert "variant" not in t6[0].parameters  # Table VI's variants are evaluations of one notebook run


def test_cells_needing_dtd_are_not_run_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path))
    cells = {c.setting["synthesis"]: c for c in expand(load_config(ROOT / "table4.yaml"), "full")
             if c.run["category"] == "Class1"}
    (tmp_path / "dagm" / "Class1").mkdir(parents=True)
    monkeypatch.setattr("adlib.reproduce.preflight.missing_weights", lambda value: None)
    assert "DTD textures missing for synthesis 'dra'" in cells["dra"].missing_inputs()
    assert cells["simple_shape"].missing_inputs().startswith("not run: DTD textures")
    assert cells["nsa_b"].missing_inputs() is None and cells["simple_texture"].missing_inputs() is None
    (tmp_path / "dtd" / "images" / "banded").mkdir(parents=True)
    (tmp_path / "dtd" / "images" / "banded" / "a.jpg").write_bytes(b"")
    assert cells["dra"].missing_inputs() is None
    quick = expand(load_config(ROOT / "table2.yaml"), "quick")[1]  # dra with the procedural stand-in
    assert quick.config["texture_source"] == "procedural" and quick.missing_inputs() is None
