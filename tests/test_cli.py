"""The `adlib` command line: data prepare / synth / list / fetch, reproduce (with --seeds, --all) and report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from adlib.cli import main
from adlib.data.mvtec import MVTecAD
from test_mtd import fake_mtd


def test_synth_and_list(tmp_path, capsys):
    assert main(["data", "synth", "--root", str(tmp_path), "--categories", "weave", "--size", "32", "--no-progress"]) == 0
    ds = MVTecAD(tmp_path / "synthetic", "weave", "train", image_size=32)
    assert len(ds) > 0
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    assert "synthetic/weave: train" in capsys.readouterr().out


def test_prepare_with_explicit_mtd(tmp_path, capsys):
    raw = fake_mtd(tmp_path / "raw")
    root = tmp_path / "data"
    argv = ["data", "prepare", "--root", str(root), "--size", "32", "--mtd-src", str(raw), "--mtd-size", "16", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "MTD ready" in out and "synthetic categories ready" in out
    assert len(MVTecAD(root, "mtd", "test", image_size=None)) == 12
    assert main(argv) == 0  # idempotent


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["data", "synth", "--root", str(tmp_path), "--categories", "nonsense", "--no-progress"]) == 1
    assert "nonsense" in capsys.readouterr().err
    assert main(["data", "fetch"]) == 2
    assert "mvtec_ad" in capsys.readouterr().err


def test_reproduce_unknown_profile_or_table_is_an_error(capsys):
    assert main(["reproduce", "mrkd/table5", "--profile", "nosuch", "--engine", "python"]) == 1
    err = capsys.readouterr().err
    assert "no profile 'nosuch'" in err and "table5.yaml" in err and "small" in err
    assert main(["reproduce", "mrkd/table99", "--engine", "python"]) == 1
    assert "table config not found: mrkd/table99" in capsys.readouterr().err
    assert main(["report", "mrkd", "--profile", "nosuch"]) == 1
    assert "unknown profile 'nosuch'" in capsys.readouterr().err
    res = subprocess.run([sys.executable, "-m", "adlib.cli", "reproduce", "rd_variance_loss/table4", "--profile", "nosuch"],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "no profile 'nosuch'" in res.stderr and "Traceback" not in res.stderr


def test_fetch_offline_names_the_file(tmp_path):
    res = subprocess.run([sys.executable, "-m", "adlib.cli", "data", "fetch", "btad", "--root", str(tmp_path), "--offline"],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "btad.zip" in res.stderr and str(tmp_path) in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_reproduce_with_seeds_then_all(tmp_path, monkeypatch, capsys):
    """`adlib reproduce CONFIG --seeds 0 1` trains both seeds and the report gives mean ± std (n=2);
    `adlib reproduce --all` on a repository with one config: the quick profile, then the report."""
    yaml = pytest.importorskip("yaml")
    import adlib.cli
    import adlib.paths

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    quick = {"extends": "quick", "data": {"image_size": 32}, "fit": {"epochs": None, "steps": 2, "batch_size": 4}}
    cfg = {"paper": "rd_variance_loss", "table": "I", "method": {"name": "rd_var"}, "profiles": {"quick": quick},
           "grid": {"method": ["rd", "rd_var"]}, "seeds": [0]}
    package = tmp_path / "package"  # an installed adlib with one table config
    (package / "configs" / "rd_variance_loss").mkdir(parents=True)
    (package / "configs" / "profiles.yaml").write_text((adlib.paths.resource_dir("configs") / "profiles.yaml").read_text())
    path = package / "configs" / "rd_variance_loss" / "table1.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs = tmp_path / "runs"
    argv = ["reproduce", str(path), "--profile", "quick", "--engine", "python", "--out", str(runs), "--no-progress"]
    assert main(argv + ["--seeds", "0", "1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("4/4 cells done, 0 not run")
    assert sorted(p.parent.name for p in runs.rglob("results.json")) == ["seed0", "seed0", "seed1", "seed1"]
    assert main(["report", str(path), "--runs", str(runs), "--profile", "quick", "--seeds", "0", "1",
                 "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report_quick.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith(("| rd | synthetic", "| rd_var | synthetic"))]
    assert len(rows) == 6 and all("(n=2)" in ln and "± –" not in ln for ln in rows), rows  # 2 settings × 3 metrics

    monkeypatch.setattr(adlib.paths, "PACKAGE_DIR", package)
    monkeypatch.setattr(adlib.cli, "shared_mtd_raw", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--all", "--out", str(runs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "profiles: quick (MTD not found: synthetic only)" in out
    assert "rd_variance_loss/table1.yaml [quick]: 2/2 cells done" in out and "all cells done" in out
    assert out.strip().splitlines()[-1] == f"report: {runs / 'report' / 'report_quick.md'}"


def test_distill_pdn_command_takes_the_recipe_flags(tmp_path, capsys, monkeypatch):
    """``adlib distill-pdn`` is the distillation's own CLI (every recipe field a flag); a tiny recipe lands in the
    cache folder it is given and prints its file, key and held-out fidelity."""
    with pytest.raises(SystemExit) as e:
        main(["distill-pdn", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: adlib distill-pdn")
    assert all(f in out for f in ("--size", "--steps", "--image-size", "--stat-images", "--cache-dir", "--device"))
    rc = main(["distill-pdn", "--size", "small", "--image-size", "32", "--steps", "1", "--batch-size", "2",
               "--stat-images", "2", "--fidelity-images", "2", "--dead-leaves-images", "2", "--device", "cpu",
               "--cache-dir", str(tmp_path)])
    printed = json.loads(capsys.readouterr().out)
    files = list(tmp_path.glob("*/pdn_small-*.pth"))
    assert rc == 0 and len(files) == 1 and (files[0].parent / "recipe.json").is_file()
    assert printed["path"] == str(files[0]) and printed["key"] == files[0].parent.name
    assert set(printed["fidelity_held_out"]) == {"mse", "explained", "values"}
