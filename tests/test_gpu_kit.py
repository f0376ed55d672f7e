"""tools/gpu_kit.py: the compact data copy a GPU call carries loads exactly as the original does, and the
results it brings back are unpacked without overwriting or escaping the repository."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import torch

from conftest import load_script


@pytest.fixture(scope="module")
def kit():
    return load_script("tools/gpu_kit.py")


@pytest.fixture(scope="module")
def weave(tmp_path_factory):
    from adlib.data.synthetic import generate

    root = tmp_path_factory.mktemp("data")
    generate(root, categories="weave", image_size=64, n_train=6, n_test_good=2, n_test_defect=1, progress=False)
    return root / "weave"


def test_the_compact_copy_loads_bit_for_bit_as_the_original(kit, weave, tmp_path):
    from adlib.data.catalog import open_dataset
    from adlib.data.prepared import problem, read_manifest

    dst = kit.compact_category(weave, tmp_path / "weave", 40, "bilinear", progress=False)
    assert problem(dst) is None and read_manifest(dst)["compact"]["mask_interpolation"] == "bilinear"
    n_files = sum(1 for d in ("train", "test", "ground_truth") for p in (weave / d).rglob("*.png"))
    assert n_files >= 6 + 2 + 2 and kit.check_compact(weave, dst, 40, "bilinear") == n_files
    assert kit.folder_mb(dst) < kit.folder_mb(weave)
    with pytest.raises(AssertionError, match="_mask.png: the compact copy loads differently"):
        kit.check_compact(weave, dst, 40, "nearest")  # the other interpolation's masks differ at some edge
    for split in ("train", "test"):
        a = open_dataset(str(weave.parent), "weave", split, image_size=40, mask_interpolation="bilinear")
        b = open_dataset(str(dst.parent), "weave", split, image_size=40, mask_interpolation="bilinear")
        assert len(a) == len(b) > 0
        for i in range(len(a)):
            x, y = a[i], b[i]
            assert torch.equal(x["image"], y["image"]), (split, i)
            assert torch.equal(x["mask"], y["mask"]) and x["label"] == y["label"]
            assert int(x["mask"].sum()) > 0 or x["label"] == 0
            assert tuple(x["orig_size"].tolist()) == (64, 64) and tuple(y["orig_size"].tolist()) == (40, 40)
            # the size on disk is what a compact copy cannot keep: cells that read it are refused (below)
    # another size loads differently, and the check says so
    with pytest.raises(AssertionError, match="loads differently"):
        kit.check_compact(weave, dst, 32, "bilinear")
    # a damaged copy is caught by the check
    victim = next((dst / "train").rglob("*.png"))
    from PIL import Image

    arr = np.asarray(Image.open(victim)).copy()
    arr[0, 0] = 255 - arr[0, 0]
    Image.fromarray(arr).save(victim)
    with pytest.raises(AssertionError, match=victim.name):
        kit.check_compact(weave, dst, 40, "bilinear")


def test_one_kit_serves_both_mask_interpolations(kit, weave, tmp_path):
    """A kit made for nearest and bilinear masks carries the images once and the second masks alone; the data root
    ``data-root`` assembles for the second, outside the kit, loads exactly as the original resized that way."""
    from adlib.data.catalog import open_dataset
    from adlib.data.prepared import MANIFEST, problem

    k, work = tmp_path / "kit", tmp_path / "work"
    kit.compact_category(weave, k / "data" / "mtd", 40, "nearest", progress=False)
    masks = kit.compact_category(weave, k / "masks_bilinear" / "mtd", 40, "bilinear", progress=False, masks_only=True)
    assert {p.parts[len(masks.parts)] for p in masks.rglob("*") if p.is_file()} == {"ground_truth"}
    assert kit.check_compact(weave, masks, 40, "bilinear", masks_only=True) == len(list(masks.rglob("*.png")))
    (k / "kit.json").write_text(json.dumps({"commit": "a" * 40, "image_size": 40,
                                            "mask_interpolations": ["nearest", "bilinear"],
                                            "teachers": ["efficientnet_lite1"]}))
    assert kit.data_root_for(k, "nearest", work) == k / "data"
    root = kit.data_root_for(k, "bilinear", work)
    assert root == work / "data_bilinear" and problem(root / "mtd") is None
    assert sorted(p.name for p in k.iterdir()) == ["data", "kit.json", "masks_bilinear"]  # the kit stays as it travels
    marker = root / "mtd" / "marker"
    marker.write_text("")  # an extra file: not the kit's files any more, so the root is made again
    assert kit.data_root_for(k, "bilinear", work) == root and not marker.exists()
    manifest = root / "mtd" / MANIFEST
    stamp = manifest.stat().st_mtime_ns
    assert kit.data_root_for(k, "bilinear", work) == root and manifest.stat().st_mtime_ns == stamp  # whole: kept
    (k / "kit.json").write_text((k / "kit.json").read_text().replace("a" * 40, "b" * 40))
    kit.data_root_for(k, "bilinear", work)  # another kit (commit): made again
    assert json.loads(manifest.read_text())["compact"]["kit_commit"] == "b" * 40
    with pytest.raises(ValueError, match="serves nearest / bilinear masks, not bicubic"):
        kit.data_root_for(k, "bicubic", work)
    a = open_dataset(str(weave.parent), "weave", "test", image_size=40, mask_interpolation="bilinear")
    b = open_dataset(str(root), "mtd", "test", image_size=40, mask_interpolation="bilinear")
    n = open_dataset(str(k / "data"), "mtd", "test", image_size=40, mask_interpolation="bilinear")
    assert len(a) == len(b) > 0
    assert all(torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["mask"], b[i]["mask"])
               for i in range(len(a)))
    # the nearest root holds nearest-resized masks: bilinear cells must not read it (they would get other masks)
    assert not all(torch.equal(a[i]["mask"], n[i]["mask"]) for i in range(len(a)))
    # a kit whose second masks lost a file serves no root for them
    next(masks.rglob("*.png")).unlink()
    with pytest.raises(ValueError, match="missing 1"):
        kit.data_root_for(k, "bilinear", tmp_path / "work2")


def test_unpack_adds_new_results_and_refuses_paths_outside(kit, tmp_path, monkeypatch):
    monkeypatch.setattr(kit, "HERE", tmp_path)
    (tmp_path / "docs" / "r").mkdir(parents=True)
    (tmp_path / "docs" / "r" / "old.json").write_text("{}")

    def archive(name, entries):
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for arc, text in entries.items():
                data = text.encode()
                info = tarfile.TarInfo(arc)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    ok = archive("ok.tar.gz", {"docs/r/new/results.json": json.dumps({"a": 1}), "docs/r/old.json": "changed"})
    kit.main(["unpack", str(ok)])
    assert json.loads((tmp_path / "docs/r/new/results.json").read_text()) == {"a": 1}
    assert (tmp_path / "docs/r/old.json").read_text() == "{}"  # never overwritten
    bad = archive("bad.tar.gz", {"docs/r/fine.json": "{}", "../escape.json": "{}"})
    with pytest.raises(ValueError, match="nothing unpacked"):
        kit.main(["unpack", str(bad)])
    assert not (tmp_path.parent / "escape.json").exists() and not (tmp_path / "docs/r/fine.json").exists()
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tar:
        info = tarfile.TarInfo("docs/r/link.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="not a regular file"):
        kit.main(["unpack", str(link)])


def test_a_kit_refuses_cells_it_cannot_serve(kit):
    """The offline_best rows: RD and MHKD load nearest-resized masks with Lite1; DM-GRD bilinear ones."""
    rows = "docs/results/mtd_methods/rows_offline_best.yaml"
    nearest = {"image_size": 128, "mask_interpolation": "nearest", "teachers": ["efficientnet_lite1"]}
    cells = kit.kit_cells(rows, nearest, ["RD", "DAF"])
    assert len(cells) == 6 and {kit.cell_teacher(c) for c in cells} == {"efficientnet_lite1"}
    with pytest.raises(ValueError, match="MHKD seed 0: its maps are smoothed by σ = 2 px"):
        kit.kit_cells(rows, nearest, ["RD", "MHKD"])
    assert [kit.orig_size_sigma(c) for c in cells] == [0.0] * 6
    with pytest.raises(ValueError, match="DM-GRD \\(code\\) seed 0"):
        kit.kit_cells(rows, nearest, ["RD", "DM-GRD (code)"])
    with pytest.raises(ValueError, match="RD seed"):
        kit.kit_cells(rows, dict(nearest, teachers=["efficientnet_lite0"]), ["RD"])
    assert len(kit.kit_cells(rows, dict(nearest, mask_interpolation="bilinear"), ["DM-GRD (code)"])) == 3
    both = {"image_size": 128, "mask_interpolations": ["nearest", "bilinear"], "teachers": ["efficientnet_lite1"]}
    assert len(kit.kit_cells(rows, both, ["RD", "DAF", "DM-GRD (code)", "DM-GRD (as described)"])) == 12
    assert kit.row_mask_interpolation(rows, "DM-GRD (as described)") == "bilinear"
    assert kit.row_mask_interpolation(rows, "DAF") == "nearest"
    with pytest.raises(ValueError, match=r"no rows labelled \['RD-var'\]"):  # a mistyped label would train nothing
        kit.kit_cells(rows, nearest, ["RD", "RD-var"])


def test_prepare_refuses_rows_the_kit_cannot_serve_before_writing_anything(kit, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kit, "_dirty", lambda: False)
    rc = kit.main(["prepare", "--dest", str(tmp_path / "kit"), "--rows", "docs/results/mtd_methods/rows_offline_best.yaml",
                   "--only", "MHKD"])
    assert rc == 1 and "σ = 2 px" in capsys.readouterr().err and not (tmp_path / "kit").exists()


def test_a_full_size_kit_serves_every_size_and_the_sigma_cells(kit):
    """``--size 0``: MTD as prepared, so EfficientAD / MHKD (σ in file pixels) and any image size are served."""
    rows = "docs/results/mtd_methods/rows_offline_best.yaml"
    full = {"image_size": None, "mask_interpolations": [], "teachers": ["efficientnet_lite1"]}
    cells = kit.kit_cells(rows, full, ["EfficientAD", "MHKD", "DM-GRD (code)", "RD"])
    assert len(cells) == 12 and {kit.orig_size_sigma(c) for c in cells} >= {2.0}
    with pytest.raises(ValueError, match="RD seed 0"):  # the teacher's wheel is still required
        kit.kit_cells(rows, dict(full, teachers=["efficientnet_lite0"]), ["RD"])


def _fake_kit(root, sizes):
    k = root / ".gpu_kit"
    for rel, n in sizes.items():
        (k / rel).parent.mkdir(parents=True, exist_ok=True)
        (k / rel).write_bytes(bytes([len(rel) % 251]) * n)
    return k


def test_a_kit_in_parts_splits_stages_and_joins_back_to_the_same_files(kit, tmp_path):
    import shutil

    parts = load_script("tools/gpu_kit_parts.py")
    sizes = {"whl/w.whl": 5000, "kit.json": 10, "COMMIT": 41, **{f"data/mtd/train/good/{i}.png": 1000 + i for i in range(9)},
             **{f"masks_bilinear/mtd/ground_truth/d/{i}.png": 300 for i in range(3)}}
    k = _fake_kit(tmp_path, sizes)
    before = {p.relative_to(k).as_posix(): p.read_bytes() for p in k.rglob("*") if p.is_file()}
    folders = parts.split(k, 3, "c" * 40)
    assert [f.name for f in folders] == [".gpu_kit", ".gpu_kit_part2", ".gpu_kit_part3"]
    assert (k / "whl/w.whl").exists() and (k / "kit.json").exists()  # fixed files stay in part 1
    moved = [set(json.loads((f / "part.json").read_text())["files"]) for f in folders[1:]]
    assert moved[0] and moved[1] and not moved[0] & moved[1]
    assert all(not (k / f).exists() for m in moved for f in m)
    assert all(f.startswith(("data/", "masks_")) for m in moved for f in m)
    # part 1 holds the 5 kB wheel: the data files go to the other two, about evenly
    loads = [kit.folder_mb(f) * 2 ** 20 for f in folders[1:]]
    assert abs(loads[0] - loads[1]) < 1500
    # on the device: each earlier call stages its part under /tmp, the last joins them
    stage = tmp_path / "stage"
    device = tmp_path / "device"
    (device / ".gpu_kit").parent.mkdir()
    shutil.copytree(k, device / ".gpu_kit")
    with pytest.raises(ValueError, match="part 2 .* is not on this machine"):
        parts.join(device / ".gpu_kit", stage)
    for f in folders[1:]:
        assert "staged" in parts.stage(f, stage)
    assert "3 parts joined" in parts.join(device / ".gpu_kit", stage)
    after = {p.relative_to(device / ".gpu_kit").as_posix(): p.read_bytes()
             for p in (device / ".gpu_kit").rglob("*") if p.is_file() and p.name != "parts.json"}
    assert after == before
    # a part of another kit (made again: a new kit id), staged or left in the tree, is not taken ...
    (device2 := tmp_path / "device2").mkdir()
    shutil.copytree(k, device2 / ".gpu_kit")
    meta = json.loads((k / "parts.json").read_text())
    meta["kit_id"] = "another"
    (device2 / ".gpu_kit" / "parts.json").write_text(json.dumps(meta))
    shutil.copytree(folders[1], device2 / ".gpu_kit_part2")
    with pytest.raises(ValueError, match="part 2"):
        parts.join(device2 / ".gpu_kit", stage)
    # ... nor a file of the right size with other bytes
    (device3 := tmp_path / "device3").mkdir()
    shutil.copytree(k, device3 / ".gpu_kit")
    staged = stage / json.loads((k / "parts.json").read_text())["kit_id"]
    victim = next(iter(json.loads((folders[1] / "part.json").read_text())["files"]))
    data = bytearray((staged / victim).read_bytes())
    data[0] ^= 1
    (staged / victim).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="part 2"):
        parts.join(device3 / ".gpu_kit", stage)
    # a part that lost a file is refused when staged
    (folders[2] / next(iter(json.loads((folders[2] / "part.json").read_text())["files"]))).unlink()
    with pytest.raises(ValueError, match="missing"):
        parts.stage(folders[2], tmp_path / "stage2")
    # a kit in parts is not split again; clearing removes the parts (prepare does, before it writes anything)
    with pytest.raises(ValueError, match="in parts already"):
        parts.split(k, 2, "c" * 40)
    parts.clear(k)
    assert not folders[1].exists() and not folders[2].exists() and not (k / "parts.json").exists()
    fresh = _fake_kit(tmp_path / "fresh", {"kit.json": 10, "data/a.png": 5, "data/b.png": 6})
    with pytest.raises(ValueError, match="4 parts for 2 data files: 1 to 3"):
        parts.split(fresh, 4, "c" * 40)
    assert len(parts.split(fresh, 3, "c" * 40)) == 3


def test_prepare_refuses_parts_away_from_the_default_kit(kit, tmp_path, monkeypatch, capsys):
    """The runner and the ignore lines know .gpu_kit / .gpu_kit_partN only: parts elsewhere would not travel as
    planned (or would travel with the tree)."""
    monkeypatch.setattr(kit, "_dirty", lambda: False)
    assert kit.main(["prepare", "--dest", str(tmp_path / "kit"), "--parts", "2"]) == 1
    assert "default --dest" in capsys.readouterr().err and not (tmp_path / "kit").exists()
    assert kit.main(["prepare", "--dest", str(tmp_path / "kit"), "--parts", "0"]) == 1
