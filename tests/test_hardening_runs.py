"""Issue 14, runs: folder datasets through reproduce, no masks, bad files found before training,
corrupt results files, locks on a shared --out, interrupts, and errors that name the file."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adlib.cli import main
from adlib.data.catalog import dataset_key, open_dataset
from adlib.data.errors import DataError, DatasetNotFoundError, ImageReadError, MaskError
from adlib.data.io import read_image, read_mask_values
from adlib.engine import write_results
from adlib.engine.results import validate_results
from adlib.experiment import results_path, run_experiment
from adlib.metrics import evaluate
from adlib.metrics.protocol import MetricError
from adlib.reproduce import ConfigError, collect, expand, run_grid
from adlib.reproduce import grid
from adlib.reproduce.cellstate import CellLock, CellLocked
from adlib.reproduce.report import build_report
from test_report import _results

TESTS = Path(__file__).resolve().parent
SMALL = {"extends": None, "data": {"dataset": "synthetic", "categories": ["weave"], "image_size": 32},
         "method": {"backbone": "efficientnet_lite0"}, "fit": {"steps": 1, "batch_size": 4}}
CFG = {"paper": "rd_variance_loss", "table": "IV", "method": {"name": "rd_var"}, "profiles": {"small": SMALL},
       "grid": {"batch_size": [4, 8]}, "seeds": [0]}


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")


def _img(path: Path, size=(40, 40), seed=0, mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def _mask(path: Path, size=(40, 40), value=255) -> Path:
    m = np.zeros(size, np.uint8)
    m[5:15, 5:15] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(path)
    return path


def user_folder(root: Path, n_good=8, defects=("scratch",), n_bad=3) -> Path:
    for i in range(n_good):
        _img(root / "good" / f"n{i}.png", seed=i)
    for d in defects:
        for i in range(n_bad):
            _img(root / d / f"{d}{i}.png", seed=100 + i)
    return root


def folder_cfg(dataset, **data) -> dict:
    return {"paper": "mine", "table": "1", "method": {"name": "rd", "backbone": "efficientnet_lite0"},
            "profiles": {"small": {"extends": None, "data": {"dataset": str(dataset), "image_size": 32, **data},
                                   "fit": {"steps": 1, "batch_size": 4}}}, "grid": {}, "seeds": [0]}


def snapshot(root: Path) -> list:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


# ------------------------------------------------------------------- folder datasets (items 4, 5)
def test_folder_dataset_runs_through_reproduce_and_writes_nothing_inside(tmp_path, capsys):
    """A folder of own images (path with spaces and unicode, no masks) trains, evaluates and is reported:
    image metrics, pixel metrics unavailable with the reason; results keyed by a safe name, never inside it."""
    yaml = pytest.importorskip("yaml")
    root = user_folder(tmp_path / "my parts ü")
    before = snapshot(root)
    cfg, runs = folder_cfg(root), tmp_path / "runs"
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["reproduce", str(tmp_path / "t.yaml"), "--engine", "python", "--out", str(runs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "done  all  rd__" in out and "1/1 cells done" in out
    assert "(pixel_auroc, pixel_ap, pixel_f1_max, aupro unavailable: no anomalous test image has a ground-truth mask" in out
    assert snapshot(root) == before  # nothing written in the dataset folder
    path = next(runs.rglob("results.json"))
    assert path.is_relative_to(runs / "mine" / dataset_key(str(root)) / "all") and dataset_key(str(root)).startswith("my_parts-")
    res = json.loads(path.read_text())
    assert 0 <= res["metrics"]["image_auroc"]["value"] <= 1 and res["metrics"]["pixel_auroc"]["value"] is None
    assert "no anomalous test image has a ground-truth mask" in res["metrics"]["aupro"]["protocol"]["unavailable"]
    assert res["data"]["counts"] == {"train": {"good": 6}, "test": {"good": 2, "scratch": 3}} and res["data"]["split_seed"] == 0
    rep = build_report([cfg], runs, "small", out_dir=tmp_path / "rep")
    rows = {r["metric"]: r for r in rep["tables"][0]["rows"]}
    assert rows["image_auroc"]["n"] == 1 and rows["pixel_auroc"]["status"].startswith("unavailable: no anomalous")
    assert rows["aupro"]["category"] == "all" and "| pixel_auroc | – | unavailable: no anomalous" in \
        (tmp_path / "rep" / "report_small.md").read_text()
    assert run_grid(cfg, "small", runs, progress=False)[0]["status"] == "skipped (done)"


def test_folder_in_mvtec_layout_with_some_masks_gets_pixel_metrics_over_those(tmp_path):
    """Decision: pixel metrics over the anomalous images that have a mask, with a note (count in the protocol)."""
    from conftest import make_mvtec_category

    cdir = make_mvtec_category(tmp_path / "own", "widget", size=32, n_train=4, defects={"scratch": 3})
    (cdir / "ground_truth" / "scratch" / "002_mask.png").unlink()
    res = run_experiment("rd", {"backbone": "efficientnet_lite0"}, paper="mine", dataset=str(tmp_path / "own"),
                         category="widget", image_size=32, steps=1, batch_size=4, progress=False)
    p = res["metrics"]["pixel_auroc"]
    assert isinstance(p["value"], float) and p["protocol"]["images_without_mask_skipped"] == 1
    assert p["protocol"]["note"].startswith("pixel metrics over the 2 of 3 anomalous images that have a mask")
    assert res["metrics"]["aupro"]["protocol"]["note"] == p["protocol"]["note"]


def test_bad_files_are_found_before_training_and_all_named(tmp_path, monkeypatch):
    import adlib.experiment

    root = user_folder(tmp_path / "f")
    (root / "scratch" / "scratch1.png").write_bytes(b"")  # zero bytes
    (root / "scratch" / "scratch2.png").write_bytes(b"not an image")
    data = (root / "good" / "n3.png").read_bytes()
    (root / "good" / "n3.png").write_bytes(data[: len(data) // 2])  # truncated
    monkeypatch.setattr(adlib.experiment, "fit", lambda *a, **k: pytest.fail("trained on bad data"))
    with pytest.raises(ImageReadError) as err:
        run_experiment("rd", {"backbone": "efficientnet_lite0"}, paper="mine", dataset=str(root), category=None,
                       image_size=32, steps=1, batch_size=4, progress=False)
    msg = str(err.value)  # every bad file of every split, in one error
    assert "scratch1.png: not an image" in msg and "scratch2.png: not an image" in msg and "2 of 5 files" in msg
    assert "n3.png: OSError: image file is truncated" in msg and "remove it from the dataset folder" in msg


def test_folder_without_anomalies_or_normals_is_refused_before_training(tmp_path, monkeypatch):
    import adlib.experiment

    monkeypatch.setattr(adlib.experiment, "fit", lambda *a, **k: pytest.fail("trained"))
    kw = dict(paper="mine", category=None, image_size=32, steps=1, batch_size=4, progress=False)
    only_normal = user_folder(tmp_path / "n", defects=())
    with pytest.raises(DataError, match="no anomalous images.*Add a folder per defect type"):
        run_experiment("rd", {"backbone": "efficientnet_lite0"}, dataset=str(only_normal), **kw)
    one_normal = user_folder(tmp_path / "one", n_good=1)  # the 80/20 pool split leaves no normal test image
    with pytest.raises(DataError, match="no normal images"):
        run_experiment("rd", {"backbone": "efficientnet_lite0"}, dataset=str(one_normal), **kw)


def test_folder_probes(tmp_path):
    """Hostile folders: a file, no images, non-image files, mixed modes and sizes, odd masks."""
    f = _img(tmp_path / "x.png")
    with pytest.raises(DatasetNotFoundError, match="is a file, not a folder"):
        open_dataset(str(f), None, "test")
    empty = tmp_path / "empty"
    (empty / "good").mkdir(parents=True)
    (empty / "good" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError, match="holds no images"):
        open_dataset(str(empty), None, "train")
    with pytest.raises(DatasetNotFoundError, match=r"dataset folder not found: .*nope \(folders in"):
        open_dataset(str(empty), "nope", "train")
    root = user_folder(tmp_path / "mixed", n_good=5)
    (root / "good" / "notes.txt").write_text("x")
    (root / "good" / "pic.gif").write_bytes(b"GIF89a")
    with pytest.warns(UserWarning, match=r"2 file\(s\) skipped.*notes\.txt"):
        open_dataset(str(root), None, "train")
    (root / "good" / "notes.txt").unlink()
    (root / "good" / "pic.gif").unlink()
    modes = {"rgba.png": "RGBA", "cmyk.jpg": "CMYK", "pal.png": "P", "bw.png": "1", "la.png": "LA", "cmyk.tif": "CMYK"}
    for name, mode in modes.items():
        _img(root / "scratch" / name, size=(50, 30), mode=mode)
    Image.fromarray(np.full((20, 24), 40000, np.uint16)).save(root / "scratch" / "gray16.png")
    test = open_dataset(str(root), None, "test", image_size=32)
    assert len(test) == 3 + len(modes) + 1 + 1 and all(test[i]["image"].shape == (3, 32, 32) for i in range(len(test)))
    # masks: 0/1 and 0/128 values mark defects (> 0, as the official scripts); a mask of the wrong size is named
    _mask(root / "masks" / "scratch0.png", value=1)
    _mask(root / "masks" / "scratch1_mask.png", value=128)
    _mask(root / "masks" / "scratch2.png", size=(20, 20))
    test = open_dataset(str(root), None, "test", image_size=40)
    by_name = {Path(test.records[i].image_path).name: i for i in range(len(test))}
    assert test[by_name["scratch0.png"]]["mask"].sum() == 100 and test[by_name["scratch1.png"]]["mask"].sum() == 100
    with pytest.raises(MaskError, match=r"scratch2\.png is 20×20.*scratch2\.png is 40×40"):
        test.validate(progress=False)


def test_results_names_stay_inside_the_out_folder(tmp_path):
    a, b = tmp_path / "a" / "parts", tmp_path / "b" / "parts"
    assert dataset_key(str(a)) != dataset_key(str(b)) and dataset_key("mtd") == "mtd"
    for bad in ("..", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain name"):
            results_path(tmp_path, "p", "mtd", bad, "t", 0)
    with pytest.raises(ValueError, match="paper"):
        results_path(tmp_path, "../p", "mtd", "mtd", "t", 0)
    f = _img(tmp_path / "file.png")
    cases = {"category '../../etc' must be a plain folder name": {"dataset": "mtd", "categories": ["../../etc"]},
             "is a file; give the folder": {"dataset": str(f)},
             "unknown dataset 'mvtec'": {"dataset": "mvtec", "categories": ["x"]},
             "dataset 'mtd' needs categories": {"dataset": "mtd", "categories": None}}
    for msg, data in cases.items():
        cfg = {**folder_cfg("x"), "profiles": {"small": {"extends": None, "data": {**data, "image_size": 32}}}}
        with pytest.raises(ConfigError, match=re.escape(msg)):
            expand(cfg, "small")
    from adlib.reproduce.schema import validate_table

    with pytest.raises(ConfigError, match="paper '../x' names the results folder"):
        validate_table({**folder_cfg(tmp_path), "paper": "../x"})
    rel = expand(folder_cfg("relative/own"), "small")[0]  # a relative folder is made absolute (notebooks run elsewhere)
    assert Path(rel.run["dataset"]).is_absolute()


def test_pixel_metrics_unavailable_or_partial():
    maps = torch.rand(6, 8, 8)
    masks = torch.zeros(6, 8, 8)
    masks[3:, 2:5, 2:5] = 1
    labels, scores = torch.tensor([0, 0, 0, 1, 1, 1]), torch.rand(6)
    none = evaluate(maps, scores, labels, masks, has_mask=[True, True, True, False, False, False])
    assert none["pixel_auroc"].value is None and none["aupro"].value is None and none["image_auroc"].value is not None
    assert none["pixel_ap"].protocol["unavailable"] == "no anomalous test image has a ground-truth mask (3 without one)"
    with pytest.raises(MetricError, match="pixel_auroc is unavailable: no anomalous"):
        float(none["pixel_auroc"])
    empty = evaluate(maps, scores, labels, torch.zeros(6, 8, 8))
    assert empty["pixel_auroc"].protocol["unavailable"] == "the masks of the 3 anomalous test images are all empty"
    some = evaluate(maps, scores, labels, masks, has_mask=[True, True, True, True, False, False])
    assert some["pixel_auroc"].value is not None and some["pixel_auroc"].protocol["images_without_mask_skipped"] == 2
    assert "1 of 3 anomalous images" in some["pixel_auroc"].protocol["note"]
    # results files: null only with the reason
    base = json.loads(json.dumps(_fake_results()))
    base["metrics"]["pixel_auroc"] = {"value": None, "protocol": {"unavailable": "no masks"}, "per_defect": {}}
    validate_results(base)
    base["metrics"]["pixel_auroc"]["protocol"] = {}
    with pytest.raises(ValueError, match="null needs the reason"):
        validate_results(base)


def _fake_results(cell=None) -> dict:
    cell = cell or expand(CFG, "small")[0]
    return _results(cell, 0.9, 0.8)


def test_image_decode_failures_name_the_file_and_what_to_do(tmp_path, monkeypatch):
    big = _img(tmp_path / "big.png", size=(60, 60))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 3600 px > 2·100: PIL's DecompressionBombError
    with pytest.raises(ImageReadError, match=r"big\.png: DecompressionBombError.*remove it from the dataset"):
        read_image(big)
    monkeypatch.undo()
    lab = tmp_path / "lab.tif"
    Image.new("RGB", (8, 8), (200, 10, 10)).convert("LAB").save(lab)
    assert read_mask_values(lab).shape == (8, 8)  # was a raw "conversion from LAB to RGB not supported"
    (tmp_path / "dir.png").mkdir()
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    with pytest.raises(ImageReadError, match=r"dir\.png \(a folder\)"):
        read_image(tmp_path / "dir.png")
    with pytest.raises(MaskError, match=r"link\.png \(a broken link\)"):
        read_mask_values(tmp_path / "link.png")
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(ImageReadError, match=r"t\.png: not an image \(unknown format\); replace it"):
        read_image(tmp_path / "t.png")


# ------------------------------------------------------------------------ results files (item 6)
def _fake_run_cell(cell, output_dir):
    """Stands for a training: logs the call, waits a little, writes a valid results file."""
    log = os.environ.get("FAKE_RUN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {cell.tag}\n")
    time.sleep(float(os.environ.get("FAKE_RUN_SLEEP", "0")))
    write_results(_fake_results(cell), cell.results_path(output_dir))
    return "done"


CORRUPT = {"truncated": lambda good: good[: len(good) // 2], "not JSON": lambda good: "<html>oops</html>",
           "binary": lambda good: "\udcff", "wrong schema": lambda good: json.dumps({"metrics": {}}),
           "other method": lambda good: good.replace('"method": "rd_var"', '"method": "rd"')}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_corrupt_results_file_is_failed_then_redone(tmp_path, monkeypatch, capsys, kind):
    runs = tmp_path / "runs"
    cells = expand(CFG, "small")
    for c in cells:
        write_results(_fake_results(c), c.results_path(runs))
    bad = cells[0].results_path(runs)
    text = CORRUPT[kind](bad.read_text())
    bad.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert cells[0].status(runs).startswith(f"failed: corrupt results file {bad}: ")
    assert cells[1].status(runs) == "done"
    assert len(collect(CFG, "small", runs)) == 1  # left out, no crash
    rep = build_report([CFG], runs, "small")
    assert any(f"corrupt results file {bad}" in r["status"] + r["notes"] for r in rep["tables"][0]["rows"])
    monkeypatch.setattr(grid, "_run_cell", _fake_run_cell)
    status = {s["path"]: s for s in run_grid(CFG, "small", runs, progress=False)}
    assert status[str(bad)]["status"] == "done" and status[str(cells[1].results_path(runs))]["status"] == "skipped (done)"
    assert "set aside as" in status[str(bad)]["note"] and bad.with_name("results.json.corrupt").read_bytes() == \
        text.encode("utf-8", "surrogateescape")
    assert cells[0].status(runs) == "done"


def test_cli_report_names_corrupt_files_and_refuses_a_missing_runs_folder(tmp_path, capsys):
    yaml = pytest.importorskip("yaml")
    cfg_path = tmp_path / "t.yaml"
    cfg_path.write_text(yaml.safe_dump(CFG))
    runs = tmp_path / "runs"
    c = expand(CFG, "small")[0]
    c.results_path(runs).parent.mkdir(parents=True)
    c.results_path(runs).write_text("{")
    assert main(["report", str(cfg_path), "--runs", str(runs), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert f"corrupt results file {c.results_path(runs)}: not JSON" in out
    for missing in (tmp_path / "nope", cfg_path):
        assert main(["report", str(cfg_path), "--runs", str(missing)]) == 2
        err = capsys.readouterr().err
        assert str(missing) in err and ("not found" in err or "is a file" in err)


# --------------------------------------------------------------------------------- locks (item 7)
def test_held_stale_and_foreign_locks(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "_run_cell", _fake_run_cell)
    runs = tmp_path / "runs"
    first, second = expand(CFG, "small")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = first.results_path(runs).parent
        folder.mkdir(parents=True)
        (folder / ".lock").write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(),
                                                  "started": "now", "time": time.time()}))
        status = {s["path"]: s["status"] for s in run_grid(CFG, "small", runs, progress=False)}
        assert status[str(first.results_path(runs))].startswith(
            f"skipped (running elsewhere: pid {sleeper.pid} on {socket.gethostname()}")
        assert status[str(second.results_path(runs))] == "done" and not first.results_path(runs).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    status = {s["path"]: s["status"] for s in run_grid(CFG, "small", runs, progress=False)}
    assert status[str(first.results_path(runs))] == "done" and not (folder / ".lock").exists()  # stale: taken over
    other = CellLock(tmp_path / "c")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "t"}))
    with pytest.raises(CellLocked, match="pid 1 on elsewhere.*delete that file"):
        other.acquire()
    (tmp_path / "c" / ".lock").write_text("")  # being written by another run right now
    with pytest.raises(CellLocked):
        other.acquire()
    os.utime(tmp_path / "c" / ".lock", (time.time() - 3600,) * 2)  # ... or left by a crash long ago
    with other:
        assert json.loads((tmp_path / "c" / ".lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / "c" / ".lock").exists()


def test_two_runs_on_one_out_train_each_cell_once(tmp_path):
    runs, log = tmp_path / "runs", tmp_path / "calls.log"
    cfg = dict(CFG, grid={"batch_size": [1, 2, 3, 4]})
    script = (f"import sys, json; sys.path.insert(0, {str(TESTS)!r}); import test_hardening_runs as t; "
              "from adlib.reproduce import grid; grid._run_cell = t._fake_run_cell; "
              f"st = grid.run_grid(json.loads(sys.argv[1]), 'small', {str(runs)!r}, progress=False); "
              "print(json.dumps([s['status'] for s in st]))")
    env = {**os.environ, "FAKE_RUN_LOG": str(log), "FAKE_RUN_SLEEP": "1.5",
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", script, json.dumps(cfg)], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    calls = [ln.split()[1] for ln in log.read_text().splitlines()]
    assert sorted(calls) == sorted(c.tag for c in expand(cfg, "small"))  # every cell trained exactly once
    assert all(s == "done" or s.startswith("skipped") for out in outs for s in out)
    assert sum(s == "done" for out in outs for s in out) == 4
    assert not list(runs.rglob(".lock"))


# ------------------------------------------------------------------------------ interrupts
def test_ctrl_c_mid_cell_leaves_no_half_cell(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    cell = expand(CFG, "small")[0]

    def interrupted(cell, output_dir):
        folder = cell.results_path(output_dir).parent
        (folder / ".results.json.x.tmp").write_text("{half")  # what a killed atomic write leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(grid, "_run_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_grid(CFG, "small", runs, progress=False)
    folder = cell.results_path(runs).parent
    assert not (folder / ".lock").exists() and not cell.results_path(runs).exists()
    assert cell.status(runs) == "to run"
    monkeypatch.setattr(grid, "_run_cell", _fake_run_cell)
    assert [s["status"] for s in run_grid(CFG, "small", runs, progress=False)] == ["done", "done"]
    assert not list(folder.glob("*.tmp"))


def test_notebook_engine_locks_and_redoes_corrupt_results(tmp_path, monkeypatch):
    """The notebook runner shares the rules: a corrupt results file is redone (set aside), a held cell skipped."""
    pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    from adlib.reproduce import notebook_runner
    from adlib.reproduce.jobs import jobs_for

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('dataset = "synthetic"\ncategory = "weave"\ndata_root = None\n'
                                       'backbone = "efficientnet_lite0"\nimage_size = 32\nbatch_size = 4\nsteps = 1\n'
                                       'seed = 0\noutput_dir = "runs"\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "toy.ipynb")
    cfg = {**CFG, "notebook": str(tmp_path / "toy.ipynb")}
    runs = tmp_path / "runs"
    first, second = jobs_for(cfg, "small", runs)
    first.results_path.parent.mkdir(parents=True)
    first.results_path.write_text("{ truncated")
    assert not first.done()
    (second.cell_dir).mkdir(parents=True)
    (second.cell_dir / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "t"}))
    ran = []

    def execute(job, *a):
        ran.append(job.cell.tag)
        write_results(_fake_results(job.cell), job.results_path)

    monkeypatch.setattr(notebook_runner, "_execute", execute)
    monkeypatch.setattr(notebook_runner, "_harvest", lambda job, source: None)
    status = [r["status"] for r in notebook_runner.run_jobs([first, second], devices="cpu", progress=False)]
    assert status[0] == "done" and status[1].startswith("skipped (running elsewhere: pid 1 on elsewhere")
    assert ran == [first.cell.tag] and first.done() and (first.cell_dir / "results.json.corrupt").is_file()
    assert not (first.cell_dir / ".lock").exists() and (second.cell_dir / ".lock").exists()


def test_more_hostile_probes(tmp_path, monkeypatch, capsys):
    """--out inside the dataset folder, an over-long tag, a results.json or .lock that is a folder,
    `adlib eval` on a folder without masks."""
    from adlib.engine.saved_maps import map_relpath, write_map

    root = user_folder(tmp_path / "parts")
    with pytest.raises(ConfigError, match="is inside the dataset folder"):
        run_grid(folder_cfg(root), "small", root / "runs", progress=False)
    assert not (root / "runs").exists()
    long_tag = "rd__" + "x" * 400
    path = results_path(tmp_path, "p", "mtd", "mtd", long_tag, 0)
    assert len(path.parent.parent.name) <= 200 and path.parent.parent.name.startswith("rd__x")
    assert path != results_path(tmp_path, "p", "mtd", "mtd", long_tag + "y", 0)
    monkeypatch.setattr(grid, "_run_cell", _fake_run_cell)
    runs = tmp_path / "runs"
    first, second = expand(CFG, "small")
    first.results_path(runs).mkdir(parents=True)  # a folder where the results file should be
    assert first.status(runs).endswith("corrupt results file " + str(first.results_path(runs)) + ": not a file")
    (second.results_path(runs).parent / ".lock").mkdir(parents=True)
    status = {s["path"]: s["status"] for s in run_grid(CFG, "small", runs, progress=False)}
    assert status[str(first.results_path(runs))] == "done" and first.results_path(runs).is_file()
    assert status[str(second.results_path(runs))].startswith("failed: ")
    assert "is not a lock file (a link or folder): delete it" in status[str(second.results_path(runs))]
    # `adlib eval` of saved maps against a folder without masks: image metrics, pixel metrics unavailable
    test = open_dataset(str(tmp_path / "parts"), None, "test")
    maps = tmp_path / "maps"
    for r in test.records:
        write_map(maps / map_relpath(r.image_path, "parts"), np.random.default_rng(0).random((40, 40)))
    assert main(["eval", "--maps", str(maps), "--dataset", str(tmp_path), "--category", "parts", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "image_auroc" in out and "pixel_auroc      unavailable: no anomalous test image has a ground-truth mask" in out


@pytest.mark.slow
@pytest.mark.parametrize("notebook,method,params", [
    ("01_rd_variance_loss.ipynb", "rd_var", {}),
    ("02_mrkd.ipynb", "mrkd", {"teach": False}),
])
def test_folder_dataset_through_the_notebook_engine(notebook, method, params, tmp_path, capsys):
    """The default engine (papermill) runs the papers' notebooks on a folder of own images without masks:
    no category, pixel metrics unavailable; nothing is written inside the folder."""
    pytest.importorskip("papermill")
    yaml = pytest.importorskip("yaml")
    root = user_folder(tmp_path / "my parts")
    before = snapshot(root)
    cfg = folder_cfg(root)
    cfg.update(paper="mine_nb", method={"name": method, "backbone": "efficientnet_lite0"}, notebook=notebook,
               notebook_parameters=params)
    cfg["profiles"]["small"]["fit"] = {"epochs": 1, "batch_size": 4}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    runs = tmp_path / "runs"
    rc = main(["reproduce", str(tmp_path / "t.yaml"), "--engine", "notebook", "--out", str(runs)])
    out = capsys.readouterr().out
    errors = [p.read_text()[-3000:] for p in runs.rglob("error.txt")]
    assert rc == 0 and "1/1 cells done" in out, (out, errors)
    # not a terminal (captured): one line when the cell starts and one when it ends, with its seconds and outcome
    assert re.search(r"\[1/1\] start ", out) and re.search(r"\[1/1\] end .*done", out), out
    assert snapshot(root) == before
    res = json.loads(next(runs.rglob("results.json")).read_text())
    assert 0 <= res["metrics"]["image_auroc"]["value"] <= 1 and res["metrics"]["pixel_auroc"]["value"] is None
