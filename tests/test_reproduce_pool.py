"""The main job's pool: every table's cells from one queue in long-lived worker processes."""

from __future__ import annotations

import pytest

from adlib.reproduce import collect, run_grid
from adlib.reproduce.pool import _size_key, cpu_workers, run_tables
from test_reproduce_grid import CFG


def test_cpu_workers():
    assert cpu_workers(1) == (1, 1) and cpu_workers(2) == (2, 1) and cpu_workers(4) == (4, 1)
    assert cpu_workers(8) == (4, 2) and cpu_workers(16) == (8, 2)


def test_queue_order_puts_long_cells_first(tmp_path, monkeypatch):
    """Real data first, then larger images, then more training images seen: a 120-step cell of batch 8
    (960 images) starts before a 12-epoch cell on 40 images (480), whatever order the tables list them in."""
    from types import SimpleNamespace

    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    from adlib.data.catalog import open_dataset

    n = len(open_dataset("synthetic", "weave", "train"))
    cell = lambda **run: SimpleNamespace(run={"dataset": "synthetic", "category": "weave", "batch_size": 8, **run})  # noqa: E731
    short, steps, big = cell(image_size=64, epochs=12), cell(image_size=64, steps=120), cell(image_size=128, epochs=1)
    real = SimpleNamespace(run={"dataset": "mvtec_ad", "category": "nowhere", "image_size": 64, "epochs": 1})
    sizes: dict = {}
    order = sorted([short, steps, big, real], key=lambda c: _size_key(c, sizes))
    assert 12 * n < 120 * 8, n  # the synthetic categories have 40 training images
    assert order == [real, big, steps, short]
    assert sizes[("synthetic", "weave", "None")] == n and sizes[("mvtec_ad", "nowhere", "None")] == 0


@pytest.mark.slow
def test_pool_runs_every_table_once_and_matches_the_sequential_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADLIB_OFFLINE", "1")
    monkeypatch.setenv("ADLIB_THREADS", "1")
    t4 = dict(CFG, grid={"batch_size": [4, 8]})
    t3 = dict(CFG, table="III", grid={"var_distance": ["cos", "l1"]})  # cos is Table IV's batch-4 run
    bad = dict(CFG, table="V", grid={"var_level": ["D9"]})  # fails: recorded, the others go on
    tables = [(t4, "small"), (t3, "small"), (bad, "small")]
    pooled = run_tables(tables, tmp_path / "pool", workers=2, threads=1, progress=False)
    assert [[s["status"] for s in st] for st in pooled[:2]] == [["done", "done"], ["skipped (done)", "done"]]
    assert pooled[2][0]["status"].startswith("failed: ValueError")
    paths = {s["path"] for st in pooled[:2] for s in st}
    assert len(paths) == 3  # the shared cell trained once
    seq = [run_grid(cfg, p, tmp_path / "seq", progress=False) for cfg, p in tables[:2]]
    assert [[s["tag"] for s in st] for st in seq] == [[s["tag"] for s in st] for st in pooled[:2]]
    for cfg, _ in tables[:2]:
        a = {r["path"].split("/seq/")[1]: r["metrics"] for r in collect(cfg, "small", tmp_path / "seq")}
        b = {r["path"].split("/pool/")[1]: r["metrics"] for r in collect(cfg, "small", tmp_path / "pool")}
        assert a.keys() == b.keys() and len(a) == 2
        for k in a:  # one thread both ways: the same numbers
            assert b[k] == pytest.approx(a[k], abs=1e-6)
    again = run_tables(tables[:2], tmp_path / "pool", workers=2, threads=1, progress=False)
    assert all(s["status"] == "skipped (done)" for st in again for s in st)
