"""benchmarks/cpu_speed.py: the smoke run measures base and head in one run and writes portable records."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import load_script

REPO = Path(__file__).resolve().parents[1]


def _load():
    return load_script("benchmarks/cpu_speed.py")


def test_quick_cells_cover_every_method_with_a_quick_profile():
    from adlib.methods.base import available

    cells = _load().quick_cells(["all"], [64])
    names = {c["method"] for c in cells}
    assert {"rd", "rd_var", "mrkd", "daf", "dm_grd", "efficientad", "mhkd"} <= names <= set(available())
    assert all(c["size"] == 64 and c["category"] for c in cells)
    with pytest.raises(SystemExit, match="no quick-profile cell"):
        _load().quick_cells(["knn"], [64])


def test_ratio_rows_are_medians_of_pairs():
    r = _load()._ratio_rows([(10.0, 20.0), (10.0, 10.0), (20.0, 10.0)], True)
    assert (r["base"], r["head"], r["ratio"], r["ratio_min"], r["ratio_max"]) == (10.0, 10.0, 1.0, 0.5, 2.0)


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout")
def test_smoke_run_writes_ratios_against_the_base_commit(tmp_path):
    assert _load().main(["--smoke", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "cpu_speed_smoke.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert rec["base"]["commit"] == head and rec["torch_threads_recorded"] == rec["threads"] == 1
    (row,) = rec["throughput"]
    assert row["variants"] == 0 and row["variants_s"]["n"] == 1  # rd has no evaluation variants; timed anyway
    for fig in ("train_images_per_s", "infer_images_per_s"):
        assert row[fig]["base"] > 0 and row[fig]["head"] > 0 and row[fig]["ratio"] == pytest.approx(
            row[fig]["head"] / row[fig]["base"])
    text = (tmp_path / "cpu_speed_smoke.md").read_text() + json.dumps(rec)
    assert str(tmp_path) not in text and str(REPO) not in text  # no machine path in the records
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert "adlib_cpu_speed_" not in worktrees  # the base checkout is removed
