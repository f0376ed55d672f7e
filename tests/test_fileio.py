"""adlib.fileio: atomic writes leave either the old file or the complete new one, never a partial one."""

from __future__ import annotations

import stat

import pytest
import torch

from adlib.fileio import atomic_copy, atomic_torch_save, atomic_write, atomic_write_bytes, atomic_write_text


def test_writes_replace_and_create_folders(tmp_path):
    p = atomic_write_text(tmp_path / "a" / "b" / "x.json", "one\n")
    assert p.read_text() == "one\n" and stat.S_IMODE(p.stat().st_mode) == 0o644
    atomic_write_text(p, "two\n")
    assert p.read_text() == "two\n"
    assert atomic_write_bytes(tmp_path / "y.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic_copy(p, tmp_path / "z.json").read_text() == "two\n"
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "t.pt")
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True)["w"], torch.arange(3))
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a", "t.pt", "y.bin", "z.json"]  # no temporary left


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["results.json"]
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "new.json", half_then_fail)
    assert not (tmp_path / "new.json").exists() and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(Exception, match="pickle"):
        atomic_torch_save({"f": lambda: 0}, tmp_path / "bad.pt")  # fails while writing
    assert not (tmp_path / "bad.pt").exists() and len(list(tmp_path.iterdir())) == 1
