"""docs/results/dm_grd/cells.py, the reader the DM-GRD docs scripts share: a table's runs are read through its own
config (Table 8's β cells never enter Table 6), and the `small` settings it derives name a run by what differs."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import REPO, load_script

RUNS = REPO / "docs" / "results" / "dm_grd" / "runs"


@pytest.fixture(scope="module")
def cells():
    return load_script("docs/results/dm_grd/cells.py")


def _one(table, setting, seed=0):
    from adlib.reproduce import load_config
    from adlib.reproduce.grid import expand

    cfg = dict(load_config(REPO / f"adlib/configs/dm_grd/table{table}.yaml"), seeds=[seed])
    (cell,) = [c for c in expand(cfg, "small") if all(c.setting.get(k) == v for k, v in setting.items())]
    return cell


def _copy_run(cell, root):
    """The recorded run of ``cell`` (tracked under docs/results/dm_grd/runs) copied under ``root``."""
    src = cell.results_path(RUNS)
    if not src.exists():
        pytest.skip(f"{src.relative_to(REPO)} is not in this checkout")
    dst = cell.results_path(root)
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src, dst)


def test_a_table_reads_its_own_cells_only(cells, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the scripts run from the repo root
    full, beta = _one("6", {"losses": "kd+ot+con+se"}), _one("8", {"beta": 0.1})
    for cell in (full, beta):
        _copy_run(cell, tmp_path)
    six = cells.read_cells("6", str(tmp_path))
    eight = cells.read_cells("8", str(tmp_path))
    assert [(m, c.tag) for m, c, _ in six] == [("code", full.tag)]
    assert sorted(c.setting["beta"] or 0 for _, c, _ in eight) == [0, 0.1]  # the full method (random β) and β = 0.1
    assert cells.read_cells("6", str(tmp_path), modes=(("small_paper", "paper"),)) == []
    r = six[0][2]
    assert cells.pct(r, "image_auroc") == f"{100 * r['metrics']['image_auroc']['value']:.1f}"
    assert cells.pct(r, "no_such_metric") == "–" and cells.pct(None, "image_auroc") == "–"


def test_small_settings_leave_what_differs_from_the_full_method(cells, monkeypatch):
    monkeypatch.chdir(REPO)
    small = cells.small_settings()
    assert {"image_size=128", "steps=2000", "mode=paper"} <= small
    for setting, left in (({"beta": 0.1}, ["beta=0.1"]), ({"memory_size": 5}, ["memory_size=5"])):
        cell = _one("8" if "beta" in setting else "9", setting)
        assert [p for p in cell.tag.split("__")[1:] if p not in small] == left
    assert [p for p in _one("6", {"losses": "kd+ot+con+se"}).tag.split("__")[1:] if p not in small] == []


def _left(root) -> list[str]:
    done = subprocess.run([sys.executable, "docs/results/dm_grd/left.py", str(root)], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return done.stdout.splitlines()


def test_left_counts_each_cell_once(tmp_path):
    # Tables 6-9, two modes, seeds 0-2: 96 distinct cells (the full method is in all four tables), less code mode's kd+se
    assert _left(tmp_path)[0] == "93 cells left"
    _copy_run(_one("6", {"losses": "kd+ot+con+se"}), tmp_path)
    out = _left(tmp_path)
    assert out[0] == "92 cells left"  # one run of the shared full method: one cell fewer, not one per table
    code, paper = (next(x for x in out if x.startswith(f"- Table 6, {m} mode")) for m in ("code", "paper"))
    assert "losses = kd+ot+con+se seed 0" not in code and "losses = kd+ot+con+se seed 0" in paper


def test_splice_replaces_only_the_marked_blocks(tmp_path, monkeypatch):
    splice = load_script("docs/results/dm_grd/splice_readme.py")
    readme = tmp_path / "README.md"
    text = "intro\n<!-- generated: left.py -->\nstale\n<!-- end generated -->\nafter\n"
    readme.write_text(text)
    monkeypatch.setattr(splice, "README", readme)
    assert splice.main() == 0
    new = readme.read_text()
    assert new.startswith("intro\n<!-- generated: left.py -->\n") and new.endswith("<!-- end generated -->\nafter\n")
    assert "stale" not in new and " cells left\n" in new
    readme.write_text(text.replace("left.py", "no_such_script.py"))
    with pytest.raises(SystemExit, match="no_such_script.py failed"):
        splice.main()
    assert "stale" in readme.read_text()  # a failing script leaves the file as it was
