"""Issue 20: `adlib fit` / `adlib predict` / `adlib.load` on your own images (tiny CPU settings)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adlib
from adlib.cli import main
from adlib.prediction import best_f1_threshold
from adlib.run_dir import RunError
from adlib.workflow import parse_set

FIT = ["--size", "32", "--steps", "2", "--batch-size", "4", "--no-progress"]


def _img(path: Path, size=(40, 40), seed=0, kind="rgb") -> Path:
    """An image: ``rgb`` (8-bit), ``gray`` (8-bit L) or ``gray16`` (16-bit I;16)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if kind == "gray16":
        Image.fromarray(rng.integers(0, 65535, size, dtype=np.uint16)).save(path)
    elif kind == "gray":
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8), mode="L").save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def user_folder(root: Path, n_good=10, n_bad=3, defects=("scratch",)) -> Path:
    """good/ + one folder per defect, no masks; grayscale, 16-bit and odd-sized images among them."""
    kinds = ["rgb", "gray", "gray16"]
    for i in range(n_good):
        _img(root / "good" / f"n{i}.png", size=(37 + i % 3, 41), seed=i, kind=kinds[i % 3])
    for d in defects:
        for i in range(n_bad):
            _img(root / d / f"{d}{i}.png", size=(45, 33), seed=100 + i, kind=kinds[i % 3])
    return root


def snapshot(root: Path) -> list:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        base = tmp_path_factory.mktemp("wf")
        mp.setenv("ADLIB_DATA", str(base / "adlib_data"))
        mp.setenv("ADLIB_OFFLINE", "1")
        yield base


@pytest.fixture(scope="module")
def fitted(env):
    """One run, trained through the CLI on a folder without masks (the other tests read it)."""
    data = user_folder(env / "my parts ü")
    before = snapshot(data)
    run = env / "run"
    assert main(["fit", "rd", "--data", str(data), *FIT, "--set", "lr=0.001", "--out", str(run)]) == 0
    assert snapshot(data) == before  # nothing written inside the data folder
    return data, run


def test_fit_writes_the_run_folder(fitted, capsys):
    data, run = fitted
    names = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert {"run.json", "model.pt", "results.json", "summary.html", "figures/extremes.png", "figures/scores.png",
            "figures/roc.png"} <= names
    man = json.loads((run / "run.json").read_text())
    assert man["method"] == "rd" and man["config"]["lr"] == 0.001 and man["config"]["backbone"] == "efficientnet_lite0"
    assert man["image_size"] == 32 and man["input_spec"]["name"] == "imagenet"
    assert len(man["weights"]["sha256"]) == 64 and len(man["files"]["checkpoint_sha256"]) == 64
    assert man["data"]["counts"]["train"] == {"good": 6} and man["data"]["counts"]["calibration"] == {"good": 2}
    assert man["threshold"]["method"] == "quantile" and man["threshold"]["quantile"] == 0.99
    res = json.loads((run / "results.json").read_text())
    assert 0 <= res["metrics"]["image_auroc"]["value"] <= 1
    assert res["metrics"]["pixel_auroc"]["value"] is None  # no masks: pixel metrics unavailable, with the reason
    assert "no anomalous test image has a ground-truth mask" in res["metrics"]["aupro"]["protocol"]["unavailable"]
    assert res["weights"]["sha256"] == man["weights"]["sha256"] and res["data"]["split_seed"] == 0
    page = (run / "summary.html").read_text()
    assert 'href="figures/extremes.png"' in page and "anomalous if score &gt;=" in page
    assert "<td>pixel_auroc</td><td>n/a</td><td>no anomalous test image has a ground-truth mask" in page


def test_round_trip_scores_identical_to_the_in_memory_model(env):
    """adlib.fit (Python) → adlib.load → adlib.predict: the same scores as the model fit returned."""
    from adlib.engine import evaluate_method
    from adlib.prediction import images_dataset

    data = user_folder(env / "rt")
    run = adlib.fit("rd", data, env / "rt_run", size=32, steps=2, batch_size=4, progress=False, figures=False)
    paths = sorted((data / "scratch").glob("*.png")) + sorted((data / "good").glob("*.png"))[:3]
    ds = images_dataset(paths, 32, run.model.input_spec)
    in_memory = evaluate_method(run.model, ds, compute_metrics=False, progress=False, device="cpu").scores
    loaded = adlib.load(run.dir)
    assert not loaded.training and loaded.run_manifest["threshold"]["value"] == run.threshold
    res = adlib.predict(run.dir, paths, env / "rt_pred", progress=False, device="cpu")
    assert torch.equal(torch.as_tensor(res.scores, dtype=torch.float32), in_memory)
    assert res.decisions == ["anomalous" if s >= run.threshold else "normal" for s in res.scores]
    same = adlib.predict(run.model, paths, progress=False, device="cpu")  # the in-memory model predicts too
    assert np.array_equal(same.scores, res.scores)


def test_threshold_is_the_quantile_of_held_out_normals(fitted):
    """Calibrated on normals only: the held-out training normals (never trained on), their 0.99 quantile."""
    data, run = fitted
    thr = json.loads((run / "run.json").read_text())["threshold"]
    held = [data / p for p in thr["paths"]]
    assert len(held) == 2 and all(p.parent.name == "good" and p.is_file() for p in held)
    scores = adlib.predict(run, held, progress=False, device="cpu").scores
    assert np.allclose(scores, thr["scores"], rtol=0, atol=1e-6)
    assert thr["value"] == pytest.approx(float(torch.quantile(torch.tensor(thr["scores"], dtype=torch.float64), 0.99)))


def test_predict_cli_default_threshold_and_overlay_cap(fitted, tmp_path, capsys):
    data, run = fitted
    out = tmp_path / "pred"
    assert main(["predict", str(run), str(data), "--out", str(out), "--max-overlays", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    man = json.loads((run / "run.json").read_text())
    assert f"decision rule: anomalous if score >= {man['threshold']['value']:.6g} (0.99 quantile of" in printed
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 13 and set(rows[0]) == {"path", "score", "decision"}
    assert all(r["decision"] == ("anomalous" if float(r["score"]) >= man["threshold"]["value"] else "normal")
               for r in rows)
    info = json.loads((out / "threshold.json").read_text())
    assert info["threshold"] == man["threshold"]["value"] and info["overlays"]["written"] == 2
    assert len(list((out / "overlays").glob("*.png"))) == 2
    assert main(["predict", str(run), str(data), "--out", str(data / "pred"), "--no-progress"]) == 1
    assert "inside the images folder" in capsys.readouterr().err and not (data / "pred").exists()


def test_predict_calibrate_takes_the_best_f1_threshold(fitted, tmp_path, capsys):
    data, run = fitted
    val = user_folder(tmp_path / "val", n_good=4, n_bad=3)
    out = tmp_path / "pred"
    assert main(["predict", str(run), str(data / "scratch"), "--out", str(out), "--calibrate", str(val),
                 "--no-overlays", "--no-progress"]) == 0
    assert "decision rule: anomalous if score >= " in capsys.readouterr().out
    info = json.loads((out / "threshold.json").read_text())
    assert info["calibration"]["method"] == "best_f1" and info["calibration"]["counts"] == {"good": 4, "scratch": 3}
    vs = adlib.predict(run, sorted((val / "good").glob("*")) + sorted((val / "scratch").glob("*")),
                       progress=False, device="cpu").scores
    thr, f1 = best_f1_threshold(vs, [0] * 4 + [1] * 3)
    assert info["threshold"] == pytest.approx(thr) and info["calibration"]["f1"] == pytest.approx(f1)
    assert info["overlays"]["written"] == 0 and not (out / "overlays").exists()


def test_best_f1_threshold():
    assert best_f1_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == (0.8, 1.0)
    t, f1 = best_f1_threshold([0.1, 0.5, 0.4, 0.9], [0, 0, 1, 1])
    assert t == 0.4 and f1 == pytest.approx(0.8)


def test_mvtec_layout_with_masks_gets_pixel_metrics_and_a_pro_curve(env):
    from conftest import make_mvtec_category

    make_mvtec_category(env / "own", "widget", size=32, n_train=5, defects={"scratch": 3})
    run = adlib.fit("rd", env / "own", env / "own_run", category="widget", size=32, steps=1, batch_size=4,
                    progress=False)
    assert isinstance(run.results["metrics"]["aupro"]["value"], float) and "pro" in run.figures
    assert (run.dir / "figures" / "pro.png").is_file() and run.manifest["data"]["category"] == "widget"


def test_only_normal_images_fit_without_evaluation(env, capsys):
    data = user_folder(env / "normals", n_good=8, defects=())
    assert main(["fit", "knn", "--data", str(data), *FIT, "--out", str(env / "normals_run")]) == 0
    assert "no evaluation" in capsys.readouterr().out
    man = json.loads((env / "normals_run" / "run.json").read_text())
    assert man["files"]["results"] is None and not (env / "normals_run" / "results.json").exists()
    assert (env / "normals_run" / "figures" / "scores.png").is_file()


# ---------------------------------------------------------------------------------- refusals
def test_parse_set_reads_yaml_values():
    assert parse_set(["lr=1e-3", "layers=[1, 2, 3]", "ilm=true", "score_topk=null", "name=abc"]) == \
        {"lr": 1e-3, "layers": [1, 2, 3], "ilm": True, "score_topk": None, "name": "abc"}
    with pytest.raises(ValueError, match="key=value"):
        parse_set(["lr"])


@pytest.mark.parametrize("args, message", [
    (["--set", "nope=1"], "unknown config keys ['nope']"),
    (["--set", "lr=abc"], "lr='abc' (expected float)"),
    (["--set", "lr=[1"], "not a YAML scalar or list"),
])
def test_bad_settings_are_refused_before_training(env, capsys, args, message):
    data = user_folder(env / "settings", n_good=4, n_bad=1)
    assert main(["fit", "rd", "--data", str(data), *FIT, *args, "--out", str(env / "never")]) == 1
    assert message in capsys.readouterr().err and not (env / "never").exists()


def test_bad_folders_get_clear_errors(env, capsys):
    data = user_folder(env / "bad", n_good=4, n_bad=2)
    assert main(["fit", "rd", "--data", str(data), *FIT, "--out", str(data / "run")]) == 1
    assert "inside the data folder" in capsys.readouterr().err and not (data / "run").exists()
    (data / "scratch" / "scratch0.png").write_bytes(b"not an image")
    assert main(["fit", "rd", "--data", str(data), *FIT, "--out", str(env / "bad_run")]) == 1
    assert "scratch0.png" in capsys.readouterr().err
    assert main(["fit", "rd", "--data", str(env / "missing"), *FIT, "--out", str(env / "bad_run")]) == 1
    assert "unknown dataset" in capsys.readouterr().err
    (env / "empty" / "good").mkdir(parents=True)
    assert main(["fit", "rd", "--data", str(env / "empty"), *FIT, "--out", str(env / "bad_run")]) == 1
    assert "no images" in capsys.readouterr().err
    assert main(["fit", "nope", "--data", str(data), *FIT, "--out", str(env / "bad_run")]) == 1
    assert "unknown method 'nope'" in capsys.readouterr().err


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy"))


def test_bad_run_folders_get_clear_errors(fitted, tmp_path, capsys):
    data, run = fitted
    with pytest.raises(RunError, match="run folder not found"):
        adlib.load(tmp_path / "nowhere")
    bad = _copy(run, tmp_path)
    (bad / "run.json").unlink()
    with pytest.raises(RunError, match=r"run\.json is missing"):
        adlib.load(bad)
    assert main(["predict", str(bad), str(data / "good"), "--out", str(tmp_path / "p"), "--no-progress"]) == 1
    assert "run.json is missing" in capsys.readouterr().err
    shutil.rmtree(bad)
    bad = _copy(run, tmp_path)
    (bad / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="manifest is damaged"):
        adlib.load(bad)
    shutil.rmtree(bad)
    bad = _copy(run, tmp_path)
    ckpt = bad / "model.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    with pytest.raises(RunError, match=r"model\.pt is damaged"):
        adlib.load(bad)
    man = json.loads((bad / "run.json").read_text())
    man["files"]["checkpoint_sha256"] = None  # no record to compare: the file itself fails to load
    (bad / "run.json").write_text(json.dumps(man))
    with pytest.raises(RunError, match=r"model\.pt cannot be loaded"):
        adlib.load(bad)
    ckpt.unlink()
    with pytest.raises(RunError, match=r"model\.pt is missing"):
        adlib.load(bad)
    shutil.rmtree(bad)
    bad = _copy(run, tmp_path)
    man = json.loads((bad / "run.json").read_text())
    man["weights"]["sha256"] = "0" * 64
    (bad / "run.json").write_text(json.dumps(man))
    with pytest.raises(RunError, match="teacher weights differ") as err:
        adlib.load(bad)
    assert "0" * 64 in str(err.value) and "weights=" in str(err.value)


@pytest.mark.slow
def test_notebook_10_your_data_runs(tmp_path):
    """notebooks/10_your_data.ipynb with its tiny defaults: fit, load, predict (both thresholds)."""
    papermill = pytest.importorskip("papermill")
    nb = Path(__file__).resolve().parents[1] / "notebooks" / "10_your_data.ipynb"
    papermill.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), parameters={"workdir": str(tmp_path / "w")},
                               cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    assert (tmp_path / "w" / "run" / "run.json").is_file() and (tmp_path / "w" / "run" / "summary.html").is_file()
    assert json.loads((tmp_path / "w" / "pred_f1" / "threshold.json").read_text())["calibration"]["method"] == "best_f1"
    assert len(list((tmp_path / "w" / "pred" / "overlays").glob("*.png"))) == 4
