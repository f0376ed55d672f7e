"""Table configs: shared profiles + overrides, the schema (unknown profiles and keys are errors naming them
and the file), configs and notebooks found in the package, tags that stay what they were."""

from __future__ import annotations

import pytest

from adlib.paths import PACKAGE_DIR, resource_dir
from adlib.reproduce import ConfigError, expand, find_config, find_configs, load_config, profile_names, table_configs
from adlib.reproduce.schema import resolve_profile

yaml = pytest.importorskip("yaml")


def table(**extra) -> dict:
    return {"paper": "rd_variance_loss", "table": "IV", "method": {"name": "rd_var"},
            "profiles": {"quick": "quick"}, "grid": {"batch_size": [4, 8]}, "seeds": [0], **extra}


def write(tmp_path, cfg: dict, name="table4.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- tags computed with the code before the sections (commit f0b10c7): results under runs/ and docs/results match;
#    since decoder_out_act="auto" (af89e46) Lite cells train linear-ended decoders and say so in their tag,
#    and a Lite cell with decoder_out_act: relu has exactly the tag of the runs trained before
KNOWN_TAGS = {
    ("mrkd/table5", "quick"): [
        "mrkd__backbone=efficientnet_lite0__decoder_out_act=none__flm=False__ilm=False__image_size=64__epochs=12__batch_size=8",
        "mrkd__backbone=efficientnet_lite0__decoder_out_act=none__flm=False__image_size=64__epochs=12__batch_size=8",
        "mrkd__backbone=efficientnet_lite0__decoder_out_act=none__ilm=False__image_size=64__epochs=12__batch_size=8",
        "mrkd__backbone=efficientnet_lite0__decoder_out_act=none__image_size=64__epochs=12__batch_size=8"],
    ("mrkd/table8", "small"): [
        "mrkd__backbone=efficientnet_lite0__decoder_out_act=none__image_size=128__epochs=20__batch_size=16",
        "mrkd__backbone=efficientnet_lite1__decoder_out_act=none__image_size=128__epochs=20__batch_size=16",
        "mrkd__backbone=efficientnet_lite2__decoder_out_act=none__image_size=128__epochs=20__batch_size=16"],
    ("rd_variance_loss/table1", "small"): [
        "rd__backbone=efficientnet_lite0__decoder_out_act=none__image_size=128__epochs=20__batch_size=16",
        "rd_var__backbone=efficientnet_lite0__decoder_out_act=none__image_size=128__epochs=20__batch_size=16"],
    ("mrkd/table6", "full"): [
        "mrkd__ilm=False__image_size=256__epochs=200__batch_size=16",
        "mrkd__alpha=0.2__image_size=256__epochs=200__batch_size=16",
        "mrkd__alpha=0.4__image_size=256__epochs=200__batch_size=16",
        "mrkd__alpha=0.6__image_size=256__epochs=200__batch_size=16",
        "mrkd__alpha=0.8__image_size=256__epochs=200__batch_size=16",
        "mrkd__image_size=256__epochs=200__batch_size=16"],
}


@pytest.mark.parametrize("name,profile", sorted(KNOWN_TAGS))
def test_tags_stay_what_they_were(name, profile):
    cells = expand(load_config(name), profile)
    assert [c.tag for c in cells[:6]] == KNOWN_TAGS[name, profile]
    cfg = load_config(name)
    cfg["method"] = {**(cfg.get("method") or {}), "decoder_out_act": "relu"}
    relu = [c.tag for c in expand(cfg, profile)[:6]]
    assert relu == [t.replace("__decoder_out_act=none", "") for t in KNOWN_TAGS[name, profile]]


def test_mrkd_full_runs_and_evaluates_as_before():
    cells = expand(load_config("mrkd/table5"), "full")
    assert len(cells) == 15 * 4 and cells[0].config["backbone"] == "wide_resnet50_2"
    assert cells[0].run == {"dataset": "mvtec_ad", "category": "carpet", "image_size": 256, "epochs": 200,
                            "batch_size": 16, "seed": 0, "aupro_mode": "rd4ad_legacy"}
    assert expand(load_config("mrkd/table3"), "full")[0].run.get("aupro_mode") is None  # MTD: the default PRO


def test_profile_and_overrides_merge(tmp_path):
    cfg = table(fit={"batch_size": 2}, profiles={
        "quick": "quick",
        "tiny": {"extends": "mrkd_quick", "data": {"image_size": 32}, "fit": {"epochs": None, "steps": 3},
                 "method": {"lambda_var": 0.5}, "eval": {"fpr_limit": 0.05}, "grid": {"var_level": ["D1", "D2"]}}})
    quick = expand(cfg, "quick")
    assert [c.run["batch_size"] for c in quick] == [4, 8]  # the grid wins over the table's fit section
    assert quick[0].run["epochs"] == 20 and quick[0].config == {"backbone": "efficientnet_lite0"}
    tiny = expand(cfg, "tiny")  # mrkd_quick (extends quick) < table sections < the profile's overrides < grid
    assert [c.setting for c in tiny] == [{"var_level": "D1"}, {"var_level": "D2"}]
    assert tiny[0].run == {"dataset": "synthetic", "category": "weave", "image_size": 32, "steps": 3, "batch_size": 2,
                           "seed": 0, "fpr_limit": 0.05}
    assert tiny[0].config == {"backbone": "efficientnet_lite0", "lambda_var": 0.5, "var_level": "D1"}
    assert tiny[0].tag.endswith("__image_size=32__steps=3__batch_size=2__fpr_limit=0.05")
    prof = resolve_profile(cfg, "tiny")
    assert "mrkd_quick" not in prof.origin["fit", "steps"] and "profiles.yaml" in prof.origin["data", "dataset"]
    assert profile_names(cfg) == ["quick", "tiny"]


def test_unknown_profile_names_it_and_the_file(tmp_path):
    path = write(tmp_path, table())
    with pytest.raises(ConfigError, match=rf"{path}: no profile 'nosuch' \(this table has: quick\)"):
        expand(load_config(path), "nosuch")
    bad = write(tmp_path, table(profiles={"quick": "no_such_shared"}), "bad.yaml")
    with pytest.raises(ConfigError, match=rf"{bad}: profile 'quick': unknown profile 'no_such_shared'.*profiles.yaml"):
        load_config(bad)


@pytest.mark.parametrize("layer", ["table", "profile"])
@pytest.mark.parametrize("section,key", [("data", "dataset_name"), ("fit", "epoch"), ("eval", "aupro")])
def test_unknown_key_in_a_section_names_key_and_file(tmp_path, layer, section, key):
    entry = {section: {key: 1}}
    cfg = table(**entry) if layer == "table" else table(profiles={"quick": {**entry}})
    path = write(tmp_path, cfg)
    with pytest.raises(ConfigError, match=rf"{path}.*section '{section}': unknown key '{key}'"):
        load_config(path)


def test_unknown_top_level_and_profile_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"table4.yaml: unknown key 'epochs'"):
        load_config(write(tmp_path, table(epochs=3)))
    with pytest.raises(ConfigError, match=r"profile 'quick': unknown key 'epochs'"):
        load_config(write(tmp_path, table(profiles={"quick": {"epochs": 3}})))
    shared = tmp_path / "profiles.yaml"
    shared.write_text("fast:\n  fit: {epochs: 1, lr: 0.1}\n")
    with pytest.raises(ConfigError, match=rf"{shared}: profile 'fast', section 'fit': unknown key 'lr'"):
        resolve_profile(table(profiles={"fast": None}), "fast", shared_file=shared)


def test_grid_axes_list_their_values(tmp_path):
    with pytest.raises(ConfigError, match=r"table4.yaml: grid key 'batch_size' must list its values"):
        load_config(write(tmp_path, table(grid={"batch_size": 8})))


def test_method_section_is_checked_against_the_methods_config_dataclass(tmp_path):
    path = write(tmp_path, table(method={"name": "rd", "lambda_var": 0.1}))
    with pytest.raises(ConfigError, match=rf"{path}, section 'method': 'lambda_var' is not a setting of method 'rd' "
                                          r"\(RDConfig has: backbone"):
        load_config(path)
    path = write(tmp_path, table(profiles={"quick": {"method": {"backbone_name": "x"}}}))
    with pytest.raises(ConfigError, match=r"profile 'quick', section 'method': 'backbone_name' is not a setting"):
        load_config(path)
    path = write(tmp_path, table(grid={"method": ["rd", "rd_var"], "lambda_var": [0.1]}))  # rd has no lambda_var
    with pytest.raises(ConfigError, match=r"grid: 'lambda_var' is not a setting of method 'rd'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"unknown method 'nope'"):
        load_config(write(tmp_path, table(method={"name": "nope"})))
    with pytest.raises(ConfigError, match=r"'method' must be a mapping with the method's 'name'"):
        load_config(write(tmp_path, table(method="rd_var")))


def test_fit_and_eval_values_checked_and_passed_to_run_experiment(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"ckpt_selection must be one of"):
        expand(table(fit={"ckpt_selection": "best"}), "quick")
    with pytest.raises(ConfigError, match=r"profile 'quick': image score 'mean': image score mode must be one of"):
        expand(table(eval={"image_score": "mean"}), "quick")
    cfg = table(fit={"ckpt_selection": "best_val", "val_split": "validation"}, eval={"image_score": "topk_mean:50"})
    cell = expand(cfg, "quick")[0]
    assert cell.tag.endswith("__ckpt_selection=best_val__val_split=validation__image_score=topk_mean:50")
    import adlib.experiment
    from adlib.reproduce import grid

    seen = {}
    monkeypatch.setattr(adlib.experiment, "run_experiment", lambda method, config, **kw: seen.update(kw))
    assert grid._run_cell(cell, tmp_path) == "done"
    assert {k: seen[k] for k in ("ckpt_selection", "val_split", "image_score")} == {
        "ckpt_selection": "best_val", "val_split": "validation", "image_score": "topk_mean:50"}


def test_configs_and_notebooks_are_found_in_the_package():
    from adlib.reproduce.jobs import resolve_notebook

    assert resource_dir("configs") == PACKAGE_DIR / "configs" and (resource_dir("configs") / "profiles.yaml").is_file()
    assert resource_dir("notebooks") == PACKAGE_DIR / "notebooks"
    assert resolve_notebook("02_mrkd.ipynb") == (PACKAGE_DIR / "notebooks" / "02_mrkd.ipynb").resolve()
    assert find_config("mrkd/table5") == find_config("mrkd/table5.yaml") == PACKAGE_DIR / "configs/mrkd/table5.yaml"
    assert find_configs("rd_variance_loss") == [p for p in table_configs() if p.parent.name == "rd_variance_loss"]
    assert all(p.name != "profiles.yaml" for p in table_configs())
    with pytest.raises(FileNotFoundError, match="table config not found: mrkd/table99"):
        find_config("mrkd/table99")
    with pytest.raises(ValueError, match="unknown resource folder"):
        resource_dir("data")


@pytest.mark.parametrize("key,value", [("epochs", 0), ("epochs", -2), ("epochs", 0.5), ("batch_size", 0),
                                       ("steps", True)])
def test_schedule_values_checked_when_cells_are_made(key, value, tmp_path):
    """A bad epochs / steps / batch size is a config error naming the key, before any training."""
    from adlib.reproduce import ConfigError, expand, load_config

    cfg = load_config("mrkd/table5")
    cfg = {**cfg, "profiles": {**cfg["profiles"], "small": {"extends": "small", "fit": {key: value}}}}
    if key == "steps":
        cfg["profiles"]["small"]["fit"]["epochs"] = None
    with pytest.raises(ConfigError, match=f"{key} must be a positive integer, got {value!r}"):
        expand(cfg, "small")


def test_broken_yaml_and_binary_files_name_the_file(tmp_path):
    """A YAML syntax error or a binary file: one ConfigError naming the file (and the line), not a parser traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("paper: x\ntable: [1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML \(line 3"):
        load_config(bad)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"bin\.yaml: not a UTF-8 text file"):
        load_config(binary)


@pytest.mark.parametrize("key,value,expected", [("lr", "abc", "float"), ("ilm", "yes", "bool"),
                                                ("layers", [2, 3], "tuple"), ("fusion", 3, "str")])
def test_method_values_of_the_wrong_type_are_refused_when_cells_are_made(key, value, expected, tmp_path):
    """``lr: abc`` used to fail inside the cell, after data loading, with a TypeError naming no key."""
    from adlib.reproduce import expand

    cfg = {"paper": "x", "table": "1", "method": {"name": "mrkd"}, "profiles": {"small": "quick"},
           "grid": {key: [value]}, "seeds": [0]}
    with pytest.raises(ConfigError, match=rf"mrkd: config values of the wrong type: {key}=.*expected {expected}"):
        expand(cfg, "small")
    cfg["grid"] = {"method": ["nosuch"]}
    with pytest.raises(ConfigError, match="unknown method 'nosuch'"):
        expand(cfg, "small")
