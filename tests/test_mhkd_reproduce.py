"""MHKD's tables in the runner (issue 19 point 5): mhkd.json (MHKD's rows, EfficientAD's under its own
setting, every other method under "baselines"), its averages re-summed, and the configs mapped onto it."""

from __future__ import annotations

LITE = {"teacher": "extractor:efficientnet_lite0", "width": 0.25}


def test_reference_numbers_and_configs():
    from adlib.reference import load_reference
    from adlib.reproduce import expand, load_config
    from adlib.reproduce.report import reference_setting
    from adlib.reproduce.schema import config_dir

    ref = load_reference("mhkd")
    values = ref["values"]
    one = lambda table, setting, metric, category="average", ds="mvtec_loco": [  # noqa: E731
        r["value"] for r in values if (r["table"], r["setting"], r["metric"], r["category"], r["dataset"]) ==
        (table, setting, metric, category, ds)]
    assert one("I", "mhkd", "spro.mean.0.05") == [82.9] and one("I", "efficientad", "spro.mean.0.05") == [79.8]
    assert one("4", "mhkd", "loco_image_auroc.mean") == [91.0]
    full = "self_distill=True, sencoder2=two"
    assert one("IV", full, "spro.mean.0.05") == one("I", "mhkd", "spro.mean.0.05")  # the headline row
    for setting in {r["setting"] for r in values if r["table"] == "IV"}:
        s, lo, me = (one("IV", setting, f"spro.{k}.0.05")[0] for k in ("structural", "logical", "mean"))
        assert abs((s + lo) / 2 - me) <= 0.05 + 1e-9, setting  # rounding of the printed values
    groups: dict = {}
    for r in values + ref["baselines"]:
        groups.setdefault((r["table"], r["dataset"], r["metric"], r.get("setting") or r["method"]), {})[r["category"]] = r["value"]
    for key, cats in groups.items():
        rows = [v for c, v in cats.items() if c != "average"]
        if rows and "average" in cats:
            assert abs(sum(rows) / len(rows) - cats["average"]) <= 0.05 + 1e-9, key
    assert one("V", "mhkd", "params_m") == [35] and one("V", "efficientad", "gflops") == [235]
    assert one("II", "mhkd", "pixel_auroc", "pcb1", "visa") == [99.9]
    assert {r["method"] for r in ref["baselines"] if r["table"] == "V"} == {"GCAD", "PatchCore", "S-T", "FastFlow",
                                                                            "SimpleNet"}
    for f in sorted((config_dir() / "mhkd").glob("*.yaml")):
        cfg = load_config(f)
        known = {r["setting"] for r in values if r["table"] == str(cfg["table"])}
        mapped = {reference_setting(c.setting, c.method) for c in expand(cfg, "full")}
        assert known <= mapped, (f.name, known - mapped)
    t1 = {c.method: c.tag for c in expand(load_config(config_dir() / "mhkd" / "table1.yaml"), "small")}
    t4 = {(c.setting["self_distill"], c.setting["sencoder2"]): c.tag
          for c in expand(load_config(config_dir() / "mhkd" / "table4.yaml"), "small")}
    assert t4[(True, "two")] == t1["mhkd"]  # the full model is Table I's training
    quick = expand(load_config(config_dir() / "mhkd" / "table1.yaml"), "quick")
    assert {c.run["image_size"] for c in quick} == {64} and {c.run["steps"] for c in quick} == {120}
    assert all(c.config == {**LITE, "lr": 0.0005} for c in quick)  # the quick budget's stated lr (profiles.yaml)
