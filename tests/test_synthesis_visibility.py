"""benchmarks/synthesis_visibility.py: per strategy, whether the labels are what changed and how much changed."""

import json

from conftest import load_script


def _load():
    return load_script("benchmarks/synthesis_visibility.py")


def test_visibility_tells_a_bold_strategy_from_a_subtle_one_and_writes_a_portable_record(mvtec_root, tmp_path,
                                                                                           monkeypatch):
    from adlib.data.mvtec import MVTecAD

    mod = _load()
    test = MVTecAD(mvtec_root, "widget", "test", image_size=32)
    shape = mod.visibility(test, "simple_texture_shape", "widget")  # flat colour boxes: every labelled pixel changes
    assert shape["label_vs_change_pixel_auroc"] > 0.99 and shape["mean_change_outside_grey"] == 0.0
    assert shape["n_images"] == 2 * int(sum(int(x) == 0 for x in test.labels)) and 0 < shape["label_fraction"] < 1
    assert shape["p90_change_inside_grey"] >= shape["median_change_inside_grey"] > 0
    monkeypatch.setattr(mod, "open_dataset", lambda *a, **k: test)
    mod.main(["--dataset", "mvtec_ad", "--category", "widget", "--image-size", "32", "--strategies", "dra",
              "simple_texture", "--out", str(tmp_path)])
    rec = json.loads((tmp_path / "synthesis_visibility.json").read_text())
    assert [r["strategy"] for r in rec["strategies"]] == ["dra", "simple_texture"]
    assert str(tmp_path) not in (tmp_path / "synthesis_visibility.json").read_text()
    assert "| dra |" in (tmp_path / "synthesis_visibility.md").read_text()
