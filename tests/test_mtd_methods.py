"""tools/mtd_methods.py (issue 21 point 3): the rows file names one cell per seed for each method, the recorded runs
are the ones it names, and the summary's means and gaps to the training-free reference come from the files."""
from __future__ import annotations

import numpy as np
import pytest

from adlib.engine import build_results, write_results
from conftest import REPO as ROOT
from conftest import load_script


@pytest.fixture(scope="module")
def tool():
    return load_script("tools/mtd_methods.py")


ROWS_FILES = {  # rows file -> (its teacher, the rows that must have a recorded run: None = every row)
    "rows.yaml": ("efficientnet_lite0", None),
    "rows_offline_best.yaml": ("efficientnet_lite1",
                               {"MRKD", "kNN (training-free)", "kNN, stages 2-3-4 (training-free)"}),
}


@pytest.mark.parametrize("name", sorted(ROWS_FILES))
def test_each_row_names_one_cell_per_seed_and_has_recorded_runs(tool, name):
    teacher_name, recorded = ROWS_FILES[name]
    doc = tool.load_rows(tool.ROWS.parent / name)
    labels = [r["label"] for r in doc["rows"]]
    assert len(set(labels)) == len(labels) and doc["delta_to"] in labels
    methods, names = set(), set()
    for row in doc["rows"]:
        cells = tool.row_cells(row, doc["seeds"])
        assert sorted(c.run["seed"] for c in cells) == sorted(row.get("seeds") or doc["seeds"])
        assert all(c.run["dataset"] == "mtd" and c.run["image_size"] == 128 for c in cells), row["label"]
        teacher = cells[0].config.get("backbone") or cells[0].config.get("teacher")
        assert teacher_name in str(teacher), (row["label"], teacher)
        cfg = tool.row_table(row, doc["seeds"])
        # a renamed cell (a changed default) would orphan the recorded runs: at least one seed must be on record
        if recorded is None or row["label"] in recorded:
            assert any(c.results_path(tool.runs_dir(row, cfg)).is_file() for c in cells), \
                f"no recorded run: {row['label']}"
        methods.add(cells[0].method)
        names.add(row["label"])
    assert {"rd_var", "mrkd", "daf", "mhkd", "dm_grd"} <= methods  # the five papers' methods
    assert doc["name"] and (name == "rows.yaml") == (doc["name"] == "mtd_methods")
    if name != "rows.yaml":  # a profile's rows file has the same rows as the `small` one
        assert names == {r["label"] for r in tool.load_rows()["rows"]}


def test_the_offline_best_mrkd_row_is_the_cell_mrkd_table5_would_run():
    """The MRKD row of rows_offline_best reads the teacher study's cell: it must be the run MRKD's Table 5 makes at
    `offline_best` (same run config), or the five-method table would mix settings."""
    from adlib.reproduce import expand, find_config, load_config

    study = [c for c in expand(load_config(ROOT / "docs/results/fidelity_mtd/tables/offline_best.yaml"), "cpu")
             if c.setting == {"method": "mrkd", "backbone": "efficientnet_lite1", "epochs": 80}]
    table5 = [c for c in expand({**load_config(find_config("mrkd/table5")), "seeds": [0, 1, 2]}, "offline_best")
              if c.setting == {"ilm": True, "flm": True}]
    assert len(study) == len(table5) == 3  # three seeds each
    for a, b in zip(study, table5):
        assert (a.run, a.tag, a.method) == (b.run, b.tag, b.method)
        assert {k: v for k, v in b.config.items() if k not in ("ilm", "flm")} == a.config


def test_rows_file_errors_name_the_row(tool, tmp_path):
    bad = tmp_path / "rows.yaml"
    bad.write_text("seeds: [0]\nrows:\n  - {label: X, config: mrkd/table5, profile: small}\n")
    with pytest.raises(ValueError, match=r"row 0 \(X\): missing \['setting'\]"):
        tool.load_rows(bad)
    bad.write_text("seeds: [0]\nrows:\n  - {label: X, config: mrkd/table5, profile: small, setting: {}, colour: red}\n")
    with pytest.raises(ValueError, match="unknown keys"):
        tool.load_rows(bad)
    bad.write_text("seeds: [0]\ndelta_to: Y\nrows:\n  - {label: X, config: mrkd/table5, profile: small, setting: {}}\n")
    with pytest.raises(ValueError, match="delta_to 'Y'"):
        tool.load_rows(bad)
    with pytest.raises(ValueError, match="matches no cell"):
        tool.row_cells({"label": "X", "config": "mrkd/table5", "profile": "small", "setting": {"ilm": "sometimes"}}, [0])


def _results(cell, image_auroc: float, scores: np.ndarray, labels: np.ndarray, gpu_name: str | None = None) -> dict:
    metrics = {"image_auroc": {"value": image_auroc, "protocol": {"level": "image"}, "per_defect": {}},
               "pixel_auroc": {"value": 0.7, "protocol": {"level": "pixel"}, "per_defect": {}}}
    protocol = {"image_size": 128, "mask_resolution": [128, 128], "aupro_mode": "mvtec", "fpr_limits": [0.3],
                "ckpt_selection": "last", "batch_size": 8, "device": "cpu", "image_score": "max"}
    env = {"python": "3", "torch": "2", "torchvision": "0", "timm": "1", "numpy": "2", "cuda": None, "cudnn": None,
           "device": "cuda" if gpu_name else "cpu", "gpu_name": gpu_name, "cpu_model": "Test CPU", "cpu_count": 2,
           "platform": "test", "adlib_version": "0"}
    ids = [f"im{i}.png" for i in range(len(labels))]
    return build_results(cell.paper, cell.method, "mtd", "mtd", cell.run["seed"], cell.config, protocol, metrics, None,
                         {"name": "efficientnet_lite0", "source": "pypi:test", "sha256": "ab" * 32},
                         {"name": "mtd", "root": "/data", "split_seed": None,
                          "counts": {"train": {"good": 10}, "test": {"good": 4, "cut": 4}}},
                         {"train_s": 10.0 + cell.run["seed"]}, env=env, git_commit=None,
                         created="2024-01-01T00:00:00+00:00",
                         extra={"image_scores": {"ids": ids, "labels": labels.tolist(), "scores": scores.tolist()}})


def test_summary_means_and_paired_gap_come_from_the_files(tool, tmp_path):
    from sklearn.metrics import roc_auc_score

    rows = tmp_path / "rows.yaml"
    rows.write_text(f"""seeds: [0, 1, 2]
delta_to: ref
rows:
  - {{label: MRKD, config: mrkd/table5, profile: small, setting: {{ilm: true, flm: true}}, runs: {tmp_path / 'a'}}}
  - {{label: ref, config: docs/results/fidelity_mtd/tables/knn.yaml, profile: cpu_full_bank, seeds: [0],
     setting: {{layers: null, image_size: 128, backbone: efficientnet_lite0}}, runs: {tmp_path / 'b'}}}
""")
    doc = tool.load_rows(rows)
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(30), np.ones(30)].astype(int)
    ref_scores = labels + rng.normal(0, 0.6, 60)  # the reference: a noisier ranking than the trained rows
    ref_cell = tool.row_cells(doc["rows"][1], doc["seeds"])[0]
    ref_auc = roc_auc_score(labels, ref_scores)
    write_results(_results(ref_cell, ref_auc, ref_scores, labels), ref_cell.results_path(tmp_path / "b"))
    aucs = {}
    for cell in tool.row_cells(doc["rows"][0], doc["seeds"])[:2]:  # seed 2 left out: listed as not run
        s = labels + rng.normal(0, 0.3, 60)
        aucs[cell.run["seed"]] = roc_auc_score(labels, s)
        gpu = "NVIDIA H200" if cell.run["seed"] == 1 else None  # one seed trained on a lent GPU: the row says both
        write_results(_results(cell, aucs[cell.run["seed"]], s, labels, gpu), cell.results_path(tmp_path / "a"))
    summary = tool.summarise(doc)
    mrkd, ref = summary["rows"]
    assert mrkd["seeds_missing"] == [2] and sorted(mrkd["seeds"]) == [0, 1]
    assert mrkd["mean"]["image_auroc"]["mean"] == pytest.approx(100 * np.mean(list(aucs.values())), abs=0.01)
    assert mrkd["mean"]["image_auroc"]["std"] == pytest.approx(100 * np.std(list(aucs.values()), ddof=1), abs=0.01)
    gaps = [mrkd["seeds"][k]["delta_to_reference"] for k in (0, 1)]
    for k, g in zip((0, 1), gaps):
        assert g["value"] == pytest.approx(100 * (aucs[k] - ref_auc), abs=0.01) and g["low"] <= g["value"] <= g["high"]
    assert "delta_to_reference" not in ref and mrkd["image_score"] == "max"
    text = tool.markdown(summary, 98.7)
    assert "seeds [2] not run" in text and "Best trained row: **MRKD**" in text
    assert mrkd["devices"] == ["CPU Test CPU", "NVIDIA H200"] and ref["devices"] == ["CPU Test CPU"]
    assert mrkd["seeds"][1]["device"] == "NVIDIA H200"
    row = next(line for line in text.splitlines() if line.startswith("| MRKD"))
    assert row.endswith("| CPU, H200 GPU |") and text.count("| CPU |") == 1  # one CPU model or several: "CPU"
    tool.figure(summary, tmp_path / "f.png", 98.7)
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_dm_grd_gpu_rows_name_their_256_px_cells_and_report_without_the_mrkd_line(tool, tmp_path):
    """Issue 18 point 8's rows file: both modes at 256 px, 5 000 steps; its report has its own title and data
    line, and no comparison with MRKD's MTD number (DM-GRD's paper reports none)."""
    doc = tool.load_rows(ROOT / "docs/results/dm_grd/rows_gpu.yaml")
    cells = [c for row in doc["rows"] for c in tool.row_cells(row, doc["seeds"])]
    assert len(cells) == 6 and {c.run["image_size"] for c in cells} == {256}
    assert {c.run["steps"] for c in cells} == {5000} and {c.run["mask_interpolation"] for c in cells} == {"bilinear"}
    assert sorted(c.config.get("mode", "code") for c in cells) == ["code"] * 3 + ["paper"] * 3
    assert tool.main(["--rows", str(ROOT / "docs/results/dm_grd/rows_gpu.yaml"), "report", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "dm_grd_gpu.md").read_text()
    assert text.startswith("# DM-GRD's `gpu` profile on MTD") and "resized to 256 px" in text
    assert "resized to 128 px" not in text and "MRKD's paper reports" not in text and "| DM-GRD (as described) |" in text
