"""Notebook jobs of a grid: parameter mapping, papermill runs (resume, failure, timeout), preflight, scale-out."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import pytest

pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

from adlib.experiment import results_path  # noqa: E402
from adlib.reproduce import load_config, profile_names, table_configs  # noqa: E402
from adlib.reproduce.jobs import jobs_for, notebook_parameters, preflight  # noqa: E402
from adlib.reproduce.notebook_runner import run_jobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

PARAMS = '''dataset = "synthetic"
category = "weave"
data_root = None
backbone = "efficientnet_lite0"
weights = "auto"
image_size = 64
batch_size = 8
seed = 0
device = "auto"
output_dir = "runs"
loss_mode = "ok"     # the toy's switch (a key of rd_var's config, so grids may set it): ok | raise | sleep (= 30 s)
'''
BODY = '''import os, time
open("cwd.txt", "w").write(os.getcwd())
open("kernel.pid", "w").write(str(os.getpid()))
if loss_mode == "raise":
    raise ValueError(f"boom {category}")
if loss_mode == "sleep":
    time.sleep(30)
from adlib.engine import build_results, write_results
from adlib.experiment import results_path
for method, auroc in (("rd", 0.9), ("rd_var", 0.95)):
    metrics = {"image_auroc": {"value": auroc, "protocol": {"level": "image"}, "per_defect": {}}}
    protocol = {"image_size": image_size, "mask_resolution": [image_size] * 2, "aupro_mode": "mvtec",
                "fpr_limits": [0.3], "ckpt_selection": "last", "batch_size": batch_size, "device": "cpu"}
    env = {k: None for k in ("python", "torch", "torchvision", "timm", "numpy", "cuda", "cudnn", "device",
                             "gpu_name", "cpu_count", "platform", "adlib_version")}
    res = build_results("toy_paper", method, dataset, category, seed, {"batch_size": batch_size}, protocol, metrics,
                        None, {"name": backbone, "source": "test", "sha256": None},
                        {"name": dataset, "root": str(data_root), "split_seed": None, "counts": {}},
                        {"train_s": 0.1}, env=env, git_commit=None)
    write_results(res, results_path(output_dir, "toy_paper", dataset, category, method, seed))
'''


@pytest.fixture
def toy_nb(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    return path


def cfg(nb: Path, grid=None, data=None, fit=None, method=None) -> dict:
    small = {"extends": None, "data": {"dataset": "synthetic", "categories": ["weave"], "image_size": 32, **(data or {})},
             "method": {"backbone": "efficientnet_lite0", "weights": "random", **(method or {})},
             "fit": {"batch_size": 4, **(fit or {})}}
    return {"paper": "toy_paper", "table": "T", "method": {"name": "rd_var"}, "notebook": str(nb),
            "profiles": {"small": small}, "grid": grid or {"method": ["rd", "rd_var"]}, "seeds": [0]}


def test_jobs_for_maps_parameters_and_rejects_unknown(toy_nb, tmp_path):
    jobs = jobs_for(cfg(toy_nb, data={"root": str(tmp_path / "data")}), "small", tmp_path / "runs", overrides={"device": "cpu"})
    assert [j.cell.method for j in jobs] == ["rd", "rd_var"]
    j = jobs[0]
    assert j.results_path == results_path(tmp_path / "runs", "toy_paper", "synthetic", "weave", j.cell.tag, 0)
    assert j.output_notebook == j.results_path.parent / "notebook.ipynb"
    assert j.parameters == {"dataset": "synthetic", "category": "weave", "backbone": "efficientnet_lite0",
                            "weights": "random", "image_size": 32, "batch_size": 4, "seed": 0, "device": "cpu",
                            "data_root": str(tmp_path / "data"), "output_dir": str(j.notebook_output_dir.resolve())}
    assert j.status == "pending" and preflight(j) is None
    with pytest.raises(ValueError, match="'epochs'.*toy.ipynb"):
        jobs_for(cfg(toy_nb, fit={"epochs": 3}), "small", tmp_path / "runs")


def test_method_settings_without_a_notebook_variable_go_through_method_overrides(toy_nb, tmp_path):
    import nbformat as nbf

    nb = nbf.read(toy_nb, as_version=4)
    nb.cells[0].source += "method_overrides = {}   # other fields of the method's config dataclass\n"
    nbf.write(nb, toy_nb)
    j = jobs_for(cfg(toy_nb, grid={"method": ["rd_var"]}, method={"lambda_var": 0.5, "decoder_out_act": "none"}),
                 "small", tmp_path / "runs")[0]
    assert j.parameters["method_overrides"] == {"lambda_var": 0.5, "decoder_out_act": "none"}
    assert "lambda_var" not in j.parameters and j.parameters["backbone"] == "efficientnet_lite0"
    # the real notebooks declare it, and apply it through the config dataclass
    for name in ("00_metrics", "01_rd_variance_loss", "02_mrkd", "03_daf"):
        assert "method_overrides" in notebook_parameters(REPO / f"notebooks/{name}.ipynb"), name


def test_configs_match_their_notebooks(tmp_path):
    """Every config naming a notebook expands to jobs the notebook accepts (both profiles)."""
    assert {"loss_mode", "fusion", "lambda_var"} <= set(notebook_parameters(REPO / "notebooks/01_rd_variance_loss.ipynb"))
    for f in table_configs():
        c = load_config(f)
        if c.get("notebook"):
            for profile in [p for p in ("small", "full", "quick", "quick_mtd") if p in profile_names(c)]:
                assert jobs_for(c, profile, tmp_path / "runs"), f


def test_run_jobs_runs_once_per_notebook_run_and_resumes(toy_nb, tmp_path):
    jobs = jobs_for(cfg(toy_nb), "small", tmp_path / "runs")
    status = run_jobs(jobs, devices="cpu", progress=False)
    assert [s["status"] for s in status] == ["done", "done"], [(j.error_path, j.status) for j in jobs]
    for j in jobs:  # one execution (rd and rd_var from one notebook run), each cell its own results
        assert json.loads(j.results_path.read_text())["method"] == j.cell.method
    first = jobs[0].cell_dir
    assert (first / "notebook.ipynb").is_file() and (first / "cwd.txt").read_text() == str(first)
    assert not (jobs[1].cell_dir / "notebook.ipynb").exists() and status[1]["notebook"] == str(first / "notebook.ipynb")
    again = run_jobs(jobs_for(cfg(toy_nb), "small", tmp_path / "runs"), devices="cpu", progress=False)
    assert [s["status"] for s in again] == ["skipped (done)"] * 2


def test_failed_cell_recorded_and_grid_goes_on(toy_nb, tmp_path):
    jobs = jobs_for(cfg(toy_nb, grid={"loss_mode": ["raise", "ok"]}), "small", tmp_path / "runs")
    status = run_jobs(jobs, devices="cpu", progress=False)
    assert status[0]["status"] == "failed: ValueError: boom weave"
    assert status[1]["status"] == "done"
    err = jobs[0].error_path.read_text()
    assert err.startswith("ValueError: boom weave") and "raise ValueError" in err
    assert not jobs[0].results_path.exists() and not jobs[1].error_path.exists()


def test_timeout_kills_the_cell(toy_nb, tmp_path):
    psutil = pytest.importorskip("psutil")
    jobs = jobs_for(cfg(toy_nb, grid={"loss_mode": ["sleep"]}), "small", tmp_path / "runs")
    t0 = time.monotonic()
    status = run_jobs(jobs, devices="cpu", timeout_s=3, progress=False)
    assert time.monotonic() - t0 < 20
    assert status[0]["status"] == "failed: timeout after 3 s"
    assert jobs[0].error_path.read_text().startswith("timeout after 3 s")
    pid_file = jobs[0].cell_dir / "kernel.pid"
    if pid_file.is_file():  # the kernel got as far as the sleep: it must be gone
        pid = int(pid_file.read_text())
        for _ in range(50):
            if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"kernel {pid} still running after the timeout")


def test_preflight_missing_data_and_weights(toy_nb, tmp_path, monkeypatch):
    jobs = jobs_for(cfg(toy_nb, data={"dataset": "mvtec_ad", "categories": ["carpet"], "root": str(tmp_path / "data")},
                        grid={"batch_size": [4]}), "small", tmp_path / "runs")
    msg = preflight(jobs[0])
    assert msg.startswith("not run: dataset mvtec_ad/carpet") and str(tmp_path / "data" / "mvtec_ad" / "carpet") in msg
    status = run_jobs(jobs, devices="cpu", progress=False)  # kept, with its reason, never dropped
    assert status[0]["status"] == msg and not jobs[0].cell_dir.exists()
    (tmp_path / "data" / "mvtec_ad" / "carpet").mkdir(parents=True)
    assert preflight(jobs[0]) is None

    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setenv("ADLIB_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    job = jobs_for(cfg(toy_nb, method={"backbone": "wide_resnet50_2", "weights": "auto"}, grid={"batch_size": [4]}), "small",
                   tmp_path / "runs")[0]
    msg = preflight(job)
    assert msg.startswith("not run: teacher weights wide_resnet50_2-95faca4d.pth") and "ADLIB_OFFLINE=1" in msg
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "wide_resnet50_2-95faca4d.pth").write_bytes(b"")
    assert preflight(job) is None


def test_submitit_local_executor(toy_nb, tmp_path):
    pytest.importorskip("submitit")
    from adlib.reproduce.scaleout import submit_submitit

    jobs = jobs_for(cfg(toy_nb, grid={"method": ["rd_var"]}), "small", tmp_path / "runs")
    status = submit_submitit(jobs, tmp_path / "submitit", executor="local", timeout_s=300)
    assert [s["status"] for s in status] == ["done"], list((tmp_path / "submitit").glob("*.err"))
    assert json.loads(jobs[0].results_path.read_text())["method"] == "rd_var" and jobs[0].status == "done"
    assert [s["status"] for s in submit_submitit(jobs, tmp_path / "submitit")] == ["skipped (done)"]


def test_ray_submission_wiring(toy_nb, tmp_path, monkeypatch):
    """submit_ray over a stand-in ``ray`` module (the real one: same calls, see scaleout.py)."""
    from adlib.reproduce.scaleout import submit_ray

    calls = {}

    def remote(**opts):
        calls["opts"] = opts
        return lambda fn: types.SimpleNamespace(remote=lambda *a: (fn, a))

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.setdefault("init", kw),
                                 remote=remote, get=lambda ref: ref[0](*ref[1]))
    monkeypatch.setitem(sys.modules, "ray", fake)
    jobs = jobs_for(cfg(toy_nb, grid={"loss_mode": ["raise"]}), "small", tmp_path / "runs")
    status = submit_ray(jobs, address="auto", num_gpus_per_job=1)
    assert status[0]["status"] == "failed: ValueError: boom weave"
    assert calls["init"] == {"address": "auto"} and calls["opts"]["num_gpus"] == 1


@pytest.mark.slow
def test_ray_local_cluster(toy_nb, tmp_path):
    """A real local Ray instance (when Ray is installed: the 'scaleout' extra): done, failed and resumed cells."""
    ray = pytest.importorskip("ray")
    from adlib.reproduce.scaleout import submit_ray

    jobs = jobs_for(cfg(toy_nb, grid={"loss_mode": ["ok", "raise"]}), "small", tmp_path / "runs")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        status = submit_ray(jobs, timeout_s=300)
        assert sorted(s["status"] for s in status) == ["done", "failed: ValueError: boom weave"]
        assert [s["status"] for s in submit_ray(jobs)][0] == "skipped (done)"
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_real_notebook_one_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    c = {"paper": "rd_variance_loss", "table": "smoke", "method": {"name": "rd_var"},
         "notebook": "01_rd_variance_loss.ipynb",
         "profiles": {"small": {"extends": "quick", "data": {"image_size": 32, "root": str(tmp_path / "data")},
                                "fit": {"epochs": 1, "batch_size": 4}}},
         "grid": {"method": ["rd_var"]}, "seeds": [0]}
    jobs = jobs_for(c, "small", tmp_path / "runs", overrides={"device": "cpu"})
    status = run_jobs(jobs, devices="cpu", timeout_s=580, progress=False)
    assert status[0]["status"] == "done", jobs[0].error_path.read_text() if jobs[0].error_path.exists() else status
    res = json.loads(jobs[0].results_path.read_text())
    assert res["method"] == "rd_var" and res["protocol"]["image_size"] == 32
