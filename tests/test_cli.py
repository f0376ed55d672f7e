"""The `adlib` command line: data prepare / synth / list / fetch."""

from __future__ import annotations

import subprocess
import sys

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


def test_fetch_offline_names_the_file(tmp_path):
    res = subprocess.run([sys.executable, "-m", "adlib.cli", "data", "fetch", "btad", "--root", str(tmp_path), "--offline"],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "btad.zip" in res.stderr and str(tmp_path) in res.stderr
    assert "Traceback" not in res.stderr
