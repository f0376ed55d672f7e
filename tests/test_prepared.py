"""Complete or redone, never half-used (issue 14): the shared rule for every folder adlib prepares or
extracts -- MTD (test_mtd.py), VisA, the trees fetch() extracts (MVTec AD / LOCO, BTAD, DAGM) and the
synthetic generator -- on tiny fake raw copies and archives built here."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
from pathlib import Path

import pytest

from adlib.data import archive, catalog, prepared, sources, visa
from adlib.data.download import fetch
from adlib.data.errors import DataError, DatasetNotFoundError
from adlib.data.prepared import MANIFEST, DatasetIncompleteError, build, problem
from adlib.data.synthetic import generate
from test_download import build_archive, fake_members
from test_real_datasets import make_visa_raw


class Killed(BaseException):
    """A kill in the middle of the work (not an Exception: nothing may catch it)."""


def kill_after(monkeypatch, owner, name: str, n: int):
    real, calls = getattr(owner, name), {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)
    return lambda: monkeypatch.setattr(owner, name, real)


# ---------------------------------------------------------------- the helper


def test_build_is_all_or_nothing_and_problem_names_the_file(tmp_path):
    final = tmp_path / "cat"

    def fill(tmp: Path, die: bool = False):
        for i in range(3):
            (tmp / "train").mkdir(exist_ok=True)
            (tmp / "train" / f"{i}.png").write_bytes(b"x" * (i + 1))
            if die and i == 1:
                raise Killed

    with pytest.raises(Killed):
        build(final, lambda t: fill(t, die=True))
    assert list(tmp_path.iterdir()) == []  # no half folder, no partial folder left
    build(final, fill, note="v1")
    assert problem(final) is None and json.loads((final / MANIFEST).read_text())["note"] == "v1"
    (final / "train/1.png").write_bytes(b"changed!")
    assert problem(final) == f"1 files changed size, e.g. {final / 'train/1.png'} (8 bytes, 2 when written)"
    (final / "train/1.png").unlink()
    assert problem(final) == f"1 of its 3 files are missing, e.g. {final / 'train/1.png'}"
    assert problem(final, under="train") == problem(final) and problem(final, under="test") is None
    (final / "train/1.png").write_bytes(b"xx")
    (final / "train/extra.png").write_bytes(b"")
    assert "1 files were added after it was written, e.g." in problem(final)
    (final / MANIFEST).write_text("{oops")
    assert "is unreadable" in problem(final)
    (final / MANIFEST).unlink()
    assert "is missing: the preparation did not finish" in problem(final)
    with pytest.raises(DatasetIncompleteError, match=f"thing at {final} is incomplete or damaged.*Do X"):
        prepared.ensure(final, None, "thing", "Do X")
    with pytest.raises(DatasetIncompleteError, match="still incomplete after preparing it again"):
        with pytest.warns(UserWarning, match="preparing it again"):
            prepared.ensure(final, lambda: None, "thing", "Do X")
    with pytest.warns(UserWarning):
        prepared.ensure(final, lambda: build(final, fill, replace=True), "thing", "Do X")
    assert problem(final) is None


# ---------------------------------------------------------------- VisA


@pytest.fixture
def visa_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    shutil.move(make_visa_raw(tmp_path), root / "visa_raw")
    return root


def test_visa_interrupted_conversion_is_redone_or_named(visa_root, monkeypatch):
    raw, out = visa_root / "visa_raw", visa_root / "visa"
    restore = kill_after(monkeypatch, visa, "binarize_mask", 1)  # dies at candle's second mask
    with pytest.raises(Killed):
        visa.convert_visa(raw, out, progress=False)
    assert list(out.iterdir()) == []  # no half category, no partial folder left
    restore()
    # not converted yet, raw copy present: open_dataset converts it
    ds = catalog.open_dataset("visa", "candle", "test", root=visa_root, image_size=None)
    assert ds.counts() == {"bad": 2, "good": 1} and sorted(p.name for p in out.iterdir()) == ["candle"]
    victim = out / "candle" / "test" / "bad" / "000.JPG"
    victim.unlink()
    with pytest.warns(UserWarning, match="VisA candle .*000.JPG.*preparing it again"):
        ds = catalog.open_dataset("visa", "candle", "test", root=visa_root, image_size=None)
    assert victim.is_file() and ds.counts() == {"bad": 2, "good": 1}
    victim.unlink()
    shutil.rmtree(raw)  # no raw copy: one clear error naming the folder and what to do
    with pytest.raises(DatasetIncompleteError, match=r"VisA candle at .*visa/candle is incomplete or damaged: 1 of "
                                                     r"its .* files are missing.*download_visa.py --root"):
        catalog.open_dataset("visa", "candle", "test", root=visa_root, image_size=None)


def test_visa_split_file_paths_must_stay_in_the_raw_folder(visa_root):
    csv = visa_root / "visa_raw" / "split_csv" / "1cls.csv"
    (visa_root / "secret.JPG").write_bytes(b"x")
    for bad in ("../secret.JPG", str(visa_root / "secret.JPG")):
        csv.write_text(f"object,split,label,image,mask\ncandle,train,normal,{bad},\n")
        with pytest.raises(DataError, match=f"1cls.csv line 2: path '{bad}' leaves the raw VisA folder"):
            visa.convert_visa(visa_root / "visa_raw", visa_root / "out", progress=False)
    assert not (visa_root / "out").exists()


def test_visa_category_made_from_another_split_is_rebuilt(visa_root):
    raw, out = visa_root / "visa_raw", visa_root / "visa"
    visa.convert_visa(raw, out, categories="pcb1", progress=False)
    csv = raw / "split_csv" / "1cls.csv"
    csv.write_text(csv.read_text().replace("pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG",
                                           "pcb1,test,normal,pcb1/Data/Images/Normal/0000.JPG"))
    visa.convert_visa(raw, out, categories="pcb1", progress=False)
    assert sorted(p.name for p in (out / "pcb1/test/good").iterdir()) == ["0000.JPG", "0001.JPG"]
    assert not (out / "pcb1/train/good/0000.JPG").exists() and problem(out / "pcb1") is None


# ---------------------------------------------------------------- trees fetch() extracts

OPEN = {"mvtec_ad": "bottle", "mvtec_loco": "pushpins", "btad": "01", "dagm": "Class3"}


def place_archives(name: str, root: Path, monkeypatch) -> list[Path]:
    """The dataset's archives (readable fake trees) put in ``root`` by hand; no checksums known."""
    members = fake_members(name)
    for arc, m in members.items():
        if name == "mvtec_loco":
            config = [{"defect_name": "x", "pixel_value": 255, "saturation_threshold": 1.0,
                       "relative_saturation": True}]
            m.update({f"{c}/defects_config.json": json.dumps(config).encode() for c in sources.LOCO_CATS})
        if name == "dagm":
            top = "" if arc == "Class3.zip" else arc[:-4] + "/"
            m[f"{top}Train/Label/Labels.txt"] = b"Id Defect Image x Label\n1 0 0001.PNG 0 0\n"
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for arc, m in members.items():
        paths.append(root / arc)
        build_archive(root / arc, m)
    src = sources.get_source(name)
    monkeypatch.setitem(sources.SOURCES, name, dataclasses.replace(src, files=tuple(
        dataclasses.replace(f, sha256=None, md5=None, urls=()) for f in src.files)))
    return paths


@pytest.mark.parametrize("name", list(OPEN))
def test_interrupted_extraction_is_redone_or_named(name, tmp_path, monkeypatch):
    root, cat = tmp_path / "data", OPEN[name]
    archives = place_archives(name, root, monkeypatch)
    restore = kill_after(monkeypatch, archive._Extractor, "write", 4)  # dies after 4 files
    with pytest.raises(Killed):
        fetch(name, root, offline=True, progress=False)
    restore()
    base = root / sources.get_source(name).dataset_dir
    assert not (base / MANIFEST).exists() and not json.loads((root / f".adlib/{name}.json").read_text())["complete"]
    with pytest.warns(UserWarning, match="preparing it again"):  # archive present: extracted anew on open
        ds = catalog.open_dataset(name, cat, "train", root=root, image_size=None)
    assert len(ds) >= 1 and problem(base) is None
    assert json.loads((root / f".adlib/{name}.json").read_text())["complete"]

    victim = next(p for p in sorted((base / cat).rglob("*")) if p.is_file())
    victim.unlink()  # damaged afterwards: restored from the archive
    with pytest.warns(UserWarning, match=f"{victim.name}.*preparing it again"):
        catalog.open_dataset(name, cat, "train", root=root, image_size=None)
    assert victim.is_file()
    victim.unlink()
    for p in archives:
        p.unlink()  # the archive is gone: one error naming the folder and what to do (the file list stays)
    with pytest.raises(DatasetIncompleteError, match=f"{victim.name}.*failed") as err:
        with pytest.warns(UserWarning):
            catalog.open_dataset(name, cat, "train", root=root, image_size=None)
    assert archives[0].name in str(err.value) and f"download_{name}.py" in str(err.value)
    with pytest.raises(DatasetNotFoundError):  # still refused: the damage was not recorded as complete
        with pytest.warns(UserWarning):
            catalog.open_dataset(name, cat, "train", root=root, image_size=None)


def test_trees_by_hand_and_older_records_are_used(tmp_path, monkeypatch):
    root = tmp_path / "data"
    place_archives("btad", root, monkeypatch)
    fetch("btad", root, offline=True, progress=False)
    base = root / "btad/BTech_Dataset_transformed"
    (base / MANIFEST).unlink()  # recorded complete by an older adlib: the record is trusted, the list written
    with pytest.warns(UserWarning, match="file list .* is missing"):
        assert len(catalog.open_dataset("btad", "01", "train", root=root, image_size=None)) == 1
    assert problem(base) is None
    (base / MANIFEST).unlink()
    (root / ".adlib/btad.json").unlink()  # extracted by hand: used as it is
    (base / "02/train/ok/0000.bmp").unlink()
    with pytest.raises(DatasetNotFoundError, match="no images"):  # the reader's own error, not ours
        catalog.open_dataset("btad", "02", "train", root=root, image_size=None)
    assert len(catalog.open_dataset("btad", 1, "train", root=root, image_size=None)) == 1


def test_unreadable_download_record_is_set_aside(tmp_path, monkeypatch):
    root = tmp_path / "data"
    place_archives("btad", root, monkeypatch)
    (root / ".adlib").mkdir()
    (root / ".adlib/btad.json").write_text("{broken")
    with pytest.warns(UserWarning, match="btad.json is unreadable"):
        fetch("btad", root, offline=True, progress=False)
    assert (root / ".adlib/btad.json.bad").read_text() == "{broken"
    assert json.loads((root / ".adlib/btad.json").read_text())["complete"]


# ---------------------------------------------------------------- synthetic


def test_synthetic_interrupted_or_damaged_is_generated_again(tmp_path, monkeypatch):
    gen_mod = importlib.import_module("adlib.data.synthetic.generate")

    base = tmp_path / "synthetic_32"  # where open_dataset keeps 32-px synthetic data
    restore = kill_after(monkeypatch, gen_mod, "_save_png", 4)
    with pytest.raises(Killed):
        generate(base, "weave", image_size=32, progress=False)
    restore()
    assert list(base.iterdir()) == []
    generate(base, "weave", image_size=32, progress=False)
    victim = base / "weave/train/good/001.png"
    victim.unlink()
    with pytest.warns(UserWarning, match="weave is incomplete or damaged.*001.png"):
        ds = catalog.open_dataset("synthetic", "weave", "train", root=tmp_path, synthetic_size=32, image_size=None)
    assert victim.is_file() and len(ds) == 40 and problem(base / "weave") is None
    assert sorted(p.name for p in base.iterdir()) == ["weave"]


@pytest.mark.parametrize("category", ["../mtd", "a/b", "..", "", "x\\y", "a\x00b"])
def test_category_must_be_a_plain_name(tmp_path, category):
    with pytest.raises(DatasetNotFoundError, match="not a plain folder name"):
        catalog.open_dataset("mvtec_ad", category, "train", root=tmp_path)
