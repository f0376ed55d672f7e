"""Table grids: expansion, shared cells across tables, resumable runs, failures recorded."""

from __future__ import annotations

import json

import pytest

from adlib.engine import write_results
from adlib.reproduce import collect, expand, load_config, profile_names, run_grid, table_configs
from adlib.reproduce.schema import config_dir
from test_report import _results

SMALL = {"extends": None, "data": {"dataset": "synthetic", "categories": ["weave"], "image_size": 32},
         "method": {"backbone": "efficientnet_lite0"}, "fit": {"steps": 2, "batch_size": 4}}
CFG = {
    "paper": "rd_variance_loss", "table": "IV", "method": {"name": "rd_var"}, "profiles": {"small": SMALL},
    "grid": {"batch_size": [4, 8]}, "seeds": [0],
}


def test_expand_and_shared_tags(tmp_path):
    cells = expand(CFG, "small")
    assert [c.run["batch_size"] for c in cells] == [4, 8]
    assert cells[0].config == {"backbone": "efficientnet_lite0"}
    other = dict(CFG, table="III", grid={"var_distance": ["cos", "l1"]})
    tags_iii = [c.tag for c in expand(other, "small")]
    assert cells[0].tag == tags_iii[0]  # same experiment in two tables → one result
    assert "var_distance=l1" in tags_iii[1]
    with pytest.raises(ValueError, match="profile"):
        expand(CFG, "full")


def test_config_files_parse():
    files = table_configs()
    per_paper = {p: sum(f.parent.name == p for f in files) for p in ("mrkd", "rd_variance_loss", "dm_grd", "daf", "mhkd")}
    assert per_paper == {"mrkd": 9, "rd_variance_loss": 5, "dm_grd": 9, "daf": 11, "mhkd": 7}
    assert len(files) == sum(per_paper.values())
    assert all(f.is_relative_to(config_dir()) for f in files)
    for f in files:
        cfg = load_config(f)
        assert expand(cfg, "full") and expand(cfg, "small" if "small" in profile_names(cfg) else "quick")


@pytest.mark.slow
def test_run_grid_resumes_and_records_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    status = run_grid(CFG, "small", tmp_path / "runs", progress=False)
    assert [s["status"] for s in status] == ["done", "done"]
    assert [s["status"] for s in run_grid(CFG, "small", tmp_path / "runs", progress=False)] == ["skipped (done)"] * 2
    rows = collect(CFG, "small", tmp_path / "runs")
    assert len(rows) == 2 and all(0 <= r["metrics"]["image_auroc"] <= 1 for r in rows)
    bad = dict(CFG, grid={"var_level": ["D9"]})
    st = run_grid(bad, "small", tmp_path / "runs", progress=False)
    assert st[0]["status"].startswith("failed: ValueError")
    assert (tmp_path / "runs").rglob("error.txt")


@pytest.mark.slow
def test_run_grid_workers_run_cells_in_parallel_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    cfg = dict(CFG, grid={"batch_size": [4, 8], "var_level": ["D1", "D9"]})  # D9: two cells fail
    import os

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # what each of 2 workers gets: same float sums
    try:
        seq = run_grid(cfg, "small", tmp_path / "seq", progress=False)
    finally:
        torch.set_num_threads(threads)
    par = run_grid(cfg, "small", tmp_path / "par", progress=False, workers=2)
    key = lambda st: st["tag"]  # noqa: E731
    assert [s["status"][:22] for s in sorted(seq, key=key)] == [s["status"][:22] for s in sorted(par, key=key)]
    assert sum(s["status"] == "done" for s in par) == 2
    assert sum(s["status"].startswith("failed: ValueError") for s in par) == 2
    a = {r["setting"]["batch_size"]: r["metrics"] for r in collect(cfg, "small", tmp_path / "seq")}
    b = {r["setting"]["batch_size"]: r["metrics"] for r in collect(cfg, "small", tmp_path / "par")}
    assert a.keys() == b.keys() == {4, 8}
    for bs in a:  # the same training in another process gives the same numbers
        assert b[bs] == pytest.approx(a[bs], abs=1e-6)


def test_run_grid_marks_missing_data_and_weights_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setenv("ADLIB_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = {"paper": "rd_variance_loss", "table": "I", "method": {"name": "rd"},
           "profiles": {"full": {"data": {"categories": ["carpet"], "image_size": 32},
                                 "fit": {"epochs": None, "steps": 1, "batch_size": 4}}},
           "grid": {"method": ["rd"]}, "seeds": [0]}
    st = run_grid(cfg, "full", tmp_path / "runs", progress=False)
    assert len(st) == 1 and st[0]["status"].startswith("not run: dataset mvtec_ad/carpet")
    assert "teacher weights wide_resnet50_2" in st[0]["status"]
    assert not list((tmp_path / "runs").rglob("*.json"))


def test_cell_status(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))  # no data there: synthetic is made on demand
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    done, failed = expand(CFG, "small")
    runs = tmp_path / "runs"
    assert done.status(runs) == "to run"
    done.results_path(runs).parent.mkdir(parents=True)
    done.results_path(runs).write_text("{}")  # not a results file: corrupt, not done
    assert done.status(runs).startswith(f"failed: corrupt results file {done.results_path(runs)}: not a results file")
    write_results(_results(done, 0.9, 0.8), done.results_path(runs))
    failed.results_path(runs).parent.mkdir(parents=True)
    (failed.results_path(runs).parent / "error.txt").write_text("Traceback (most recent call last):\nKeyError: 'x'\n")
    assert done.status(runs) == "done" and failed.status(runs) == "failed: KeyError: 'x'"
    mvtec_small = {**SMALL, "data": {**SMALL["data"], "dataset": "mvtec_ad", "categories": ["carpet"]}}
    mvtec = expand(dict(CFG, profiles={"small": mvtec_small}), "small")[0]
    assert mvtec.status(runs).startswith("not run: ") and "mvtec_ad" in mvtec.status(runs)


@pytest.mark.slow
def test_run_grid_time_limit_kills_the_cell_and_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    cfg = dict(CFG, grid={"steps": [2, 100_000]}, timeout_s=30)  # the config's limit; the second cannot finish
    runs = tmp_path / "runs"
    short, long_ = expand(cfg, "small")
    status = {st["tag"]: st["status"] for st in run_grid(cfg, "small", runs, progress=False, workers=2)}
    assert status == {short.tag: "done", long_.tag: "failed: timeout after 30 s"}
    assert short.results_path(runs).is_file() and not long_.results_path(runs).exists()
    assert (long_.results_path(runs).parent / "error.txt").read_text().startswith("timeout after 30 s (wall clock")
    assert long_.status(runs) == "failed: timeout after 30 s (wall clock, process killed)"


def test_cells_spread_over_the_visible_gpus(tmp_path, monkeypatch):
    """With several GPUs, each cell process is started seeing one GPU: the one running the fewest cells."""
    import multiprocessing

    import adlib.reproduce.devices as nr
    from adlib.reproduce import grid

    assert grid.least_busy(["0", "1"], []) == "0" and grid.least_busy(["0", "1"], ["0"]) == "1"
    assert grid.least_busy(["0", "1", "2"], ["0", "1", "1"]) == "2" and grid.least_busy(["3", "5"], ["5"]) == "3"
    started = []

    class FakeProcess:  # "runs" instantly: writes the cell's results file when started
        def __init__(self, target, args):
            self.cell, self.output_dir, self.threads, self.env = args
            self.exitcode = 0

        def start(self):
            started.append(self.env)
            path = self.cell.results_path(self.output_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}")

        def is_alive(self):
            return False

        def join(self, timeout=None):
            pass

        def kill(self):
            pass

    class FakeContext:
        Process = FakeProcess

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: FakeContext())
    monkeypatch.setattr(nr, "resolve_devices", lambda devices="auto": ["0", "1"])
    cells = expand(dict(CFG, grid={"batch_size": [1, 2, 3, 4]}), "small")
    todo = [(c, {"tag": c.tag}) for c in cells]
    out = list(grid._run_in_processes(todo, tmp_path / "runs", workers=2, timeout_s=None))
    assert [st for _, st in out] == ["done"] * 4
    assert [e["CUDA_VISIBLE_DEVICES"] for e in started] == ["0", "1", "0", "1"]
    monkeypatch.setattr(nr, "resolve_devices", lambda devices="auto": ["cpu"])
    started.clear()
    list(grid._run_in_processes(todo, tmp_path / "runs2", workers=2, timeout_s=None))
    assert started == [{}] * 4  # one GPU or none: the environment is left as it is


def test_deadline_starts_no_cell_after_it_and_kills_the_running_ones(tmp_path, monkeypatch):
    """A machine lent for a fixed time (tools/fidelity_study.py --deadline-s): cells running at the deadline
    are killed and leave neither results nor error.txt (a later run does them); no cell starts after it."""
    import multiprocessing
    import time

    import adlib.reproduce.devices as nr
    from adlib.reproduce import grid

    started, killed = [], []

    class SlowProcess:  # never finishes by itself
        def __init__(self, target, args):
            self.cell, self.alive, self.exitcode = args[0], False, None

        def start(self):
            self.alive = True
            started.append(self.cell.tag)

        def is_alive(self):
            return self.alive

        def kill(self):
            self.alive, self.exitcode = False, -9
            killed.append(self.cell.tag)

        def join(self, timeout=None):
            pass

    class FakeContext:
        Process = SlowProcess

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: FakeContext())
    monkeypatch.setattr(nr, "resolve_devices", lambda devices="auto": ["cpu"])
    cells = expand(dict(CFG, grid={"batch_size": [1, 2, 3]}), "small")
    todo = [(c, {"tag": c.tag}) for c in cells]
    t0 = time.monotonic()
    out = list(grid._run_in_processes(todo, tmp_path / "runs", workers=2, timeout_s=None, deadline=t0 + 0.3))
    assert time.monotonic() - t0 < 5
    assert started == killed == [cells[0].tag, cells[1].tag]  # the third never started
    assert [st for _, st in out] == ["killed at the deadline"] * 2
    for c in cells:
        assert not c.results_path(tmp_path / "runs").exists()
        assert not (c.results_path(tmp_path / "runs").parent / "error.txt").exists()
        assert not (c.results_path(tmp_path / "runs").parent / ".lock").exists()


def test_progress_is_a_line_per_cell_in_a_log_and_a_bar_on_a_terminal(tmp_path, monkeypatch, capsys):
    """Issue 16: stdout not a terminal (a log): start and end lines per cell, with seconds and outcome."""
    import sys

    from adlib.reproduce import grid
    from test_hardening_runs import CFG as HCFG, _fake_run_cell

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setattr(grid, "_run_cell", _fake_run_cell)
    status = run_grid(HCFG, "small", tmp_path / "runs", progress=True)
    assert [s["status"] for s in status] == ["done", "done"]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("rd_variance_loss table IV" in ln for ln in lines)
    assert "[1/2] start weave rd_var__" in lines[0] and "seed 0" in lines[0]
    assert "[1/2] end   weave rd_var__" in lines[1] and ": done (" in lines[1] and lines[1].endswith(" s)")
    assert "[2/2] end" in lines[3]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)  # a terminal: the bar (stderr), no lines
    run_grid(dict(HCFG, grid={"batch_size": [2]}), "small", tmp_path / "runs", progress=True)
    captured = capsys.readouterr()
    assert "start" not in captured.out and "rd_variance_loss table IV" in captured.err
    run_grid(HCFG, "small", tmp_path / "runs", progress=True)  # all done: no cell runs, no line
    assert capsys.readouterr().out == ""
