"""Download machinery and data scripts against a loopback HTTP server (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import socket
import tarfile
import threading
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlib.data import download, sources
from adlib.data.download import (
    ChecksumError,
    DownloadUnavailableError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    fetch,
)
from conftest import load_script

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- loopback server


class _Store:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.ignore_range = False
        self.truncate_once: set[str] = set()
        self.validator = "etag"  # what the server sends: etag / weak / last_modified / none
        self.ignore_if_range = False  # a broken server: ranges even for a changed file
        self.shift_range = 0  # a broken server: 206 with a Content-Range starting elsewhere
        self.partial_always = False  # a broken server: 206 even without Range

    def headers_for(self, data: bytes) -> dict:
        tag = hashlib.sha256(data).hexdigest()[:16]
        secs = int(tag, 16) % 86400
        return {"etag": {"ETag": f'"{tag}"'}, "weak": {"ETag": f'W/"{tag}"'}, "none": {},
                "last_modified": {"Last-Modified": f"Mon, 01 Jan 2024 {secs // 3600:02d}:{secs // 60 % 60:02d}:"
                                                   f"{secs % 60:02d} GMT"}}[self.validator]


def _handler(store: _Store):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
            store.requests.append({"path": self.path, "range": rng, "if_range": if_range})
            data = store.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            status, body, extra = 200, data, dict(store.headers_for(data))
            if if_range and if_range not in extra.values() and not store.ignore_if_range:
                rng = None  # RFC 9110: a changed file is sent whole
            if store.partial_always and not rng:
                rng = "bytes=0-"
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
            if m and not store.ignore_range:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = 206, data[start:end + 1]
                extra["Content-Range"] = f"bytes {start + store.shift_range}-{end + store.shift_range}/{len(data)}"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if self.path in store.truncate_once:
                store.truncate_once.discard(self.path)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def server():
    store = _Store()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    store.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    try:
        yield store
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Every request the code under test makes must go to 127.0.0.1."""
    real = download._open

    def guarded(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url).hostname
        assert host in ("127.0.0.1", "localhost"), f"test tried to reach {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(download, "_open", guarded)
    monkeypatch.delenv("ADLIB_OFFLINE", raising=False)


def closed_port_url(name="x.bin") -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- download_file


def test_download_and_checksum(server, tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    server.files["/a.bin"] = data
    dest = download_file(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data),
                         md5=hashlib.md5(data).hexdigest(), progress=False, timeout=5)
    assert dest.read_bytes() == data and not (tmp_path / "a.bin.part").exists()


def test_checksum_mismatch_keeps_corrupt(server, tmp_path):
    server.files["/a.bin"] = b"actual bytes"
    with pytest.raises(ChecksumError) as ei:
        download_file(server.url("/a.bin"), tmp_path / "a.bin", sha256="0" * 64, progress=False, timeout=5)
    msg = str(ei.value)
    assert "a.bin" in msg and "0" * 64 in msg and sha(b"actual bytes") in msg
    assert (tmp_path / "a.bin.corrupt").read_bytes() == b"actual bytes"
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()
    with pytest.raises(ChecksumError):  # a second bad copy does not overwrite the first
        download_file(server.url("/a.bin"), tmp_path / "a.bin", sha256="0" * 64, progress=False, timeout=5)
    assert (tmp_path / "a.bin.corrupt.1").is_file() and (tmp_path / "a.bin.corrupt").is_file()


@pytest.mark.parametrize("ignore_range", [False, True])
def test_resume_from_part(server, tmp_path, ignore_range):
    data = np.random.default_rng(1).bytes(200_000)
    server.files["/b.bin"] = data
    server.ignore_range = ignore_range
    (tmp_path / "b.bin.part").write_bytes(data[:70_000])
    dest = download_file(server.url("/b.bin"), tmp_path / "b.bin", sha256=sha(data), progress=False, timeout=5)
    assert dest.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=70000-"


def test_stale_part_longer_than_file(server, tmp_path):
    data = b"0123456789" * 100
    server.files["/c.bin"] = data
    (tmp_path / "c.bin.part").write_bytes(b"x" * 5000)  # 416 from the server → start over
    dest = download_file(server.url("/c.bin"), tmp_path / "c.bin", sha256=sha(data), progress=False, timeout=5)
    assert dest.read_bytes() == data


def test_interrupted_transfer_is_resumed(server, tmp_path):
    data = np.random.default_rng(2).bytes(100_000)
    server.files["/d.bin"] = data
    server.truncate_once.add("/d.bin")
    dest = download_file(server.url("/d.bin"), tmp_path / "d.bin", sha256=sha(data), progress=False, timeout=5)
    assert dest.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=50000-"


def test_existing_file_not_downloaded_again(server, tmp_path):
    data = b"already here"
    server.files["/e.bin"] = data
    (tmp_path / "e.bin").write_bytes(data)
    download_file(server.url("/e.bin"), tmp_path / "e.bin", sha256=sha(data), progress=False, timeout=5)
    assert server.requests == []


def _interrupted_once(server, path, data, dest, **kw):
    """A first download that breaks half way (no retry): leaves ``dest.part`` (+ its sidecar)."""
    server.files[path] = data
    server.truncate_once.add(path)
    with pytest.raises(DownloadUnavailableError, match="interrupted"):
        download_file(server.url(path), dest, progress=False, timeout=5, retries=0, **kw)
    assert dest.with_name(dest.name + ".part").stat().st_size == len(data) // 2


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_changed_remote_file_is_not_spliced(server, tmp_path, validator):
    """Issue 14: a resumed .part of an older version was spliced to the newer one's tail (no If-Range)."""
    server.validator = validator
    v1, v2 = b"A" * 40_000, b"B" * 40_000
    dest = tmp_path / "f.bin"
    _interrupted_once(server, "/f.bin", v1, dest)
    meta = json.loads((tmp_path / "f.bin.part.json").read_text())
    assert meta["length"] == 40_000 and meta.get(validator)
    server.files["/f.bin"] = v2  # the remote file changed between the two runs
    assert download_file(server.url("/f.bin"), dest, progress=False, timeout=5).read_bytes() == v2
    assert server.requests[-1]["range"] == "bytes=20000-" and server.requests[-1]["if_range"] == meta[validator]
    assert not (tmp_path / "f.bin.part.json").exists()
    # unchanged: resumed from the .part (206), not downloaded again
    dest.unlink()
    _interrupted_once(server, "/f.bin", v1, dest)
    assert download_file(server.url("/f.bin"), dest, progress=False, timeout=5).read_bytes() == v1


@pytest.mark.parametrize("validator", ["none", "weak"])
def test_no_validator_no_checksum_starts_over(server, tmp_path, validator):
    server.validator = validator  # a weak ETag cannot be used in If-Range
    dest = tmp_path / "g.bin"
    _interrupted_once(server, "/g.bin", b"A" * 30_000, dest)
    server.files["/g.bin"] = b"B" * 30_000
    assert download_file(server.url("/g.bin"), dest, progress=False, timeout=5).read_bytes() == b"B" * 30_000
    assert server.requests[-1]["range"] is None


def test_checksum_allows_blind_resume_and_catches_a_splice(server, tmp_path):
    server.validator = "none"
    v1, v2 = b"A" * 30_000, b"B" * 30_000
    dest = tmp_path / "h.bin"
    _interrupted_once(server, "/h.bin", v1, dest, sha256=sha(v1))
    server.files["/h.bin"] = v2
    with pytest.raises(ChecksumError, match="h.bin"):  # spliced A+B: caught, kept aside
        download_file(server.url("/h.bin"), dest, sha256=sha(v1), progress=False, timeout=5)
    assert (tmp_path / "h.bin.corrupt").read_bytes() == v1[:15_000] + v2[15_000:]
    assert not (tmp_path / "h.bin.part").exists() and not (tmp_path / "h.bin.part.json").exists()


@pytest.mark.parametrize("broken", ["ignore_if_range", "shift_range", "partial_always", "bad_sidecar"])
def test_broken_server_answers_never_splice(server, tmp_path, broken):
    dest = tmp_path / "k.bin"
    v1, v2 = bytes(range(256)) * 100, bytes(reversed(range(256))) * 100
    if broken == "partial_always":  # 206 to a request without Range: refused, named
        server.files["/k.bin"], server.partial_always = v1, True
        (tmp_path / "k.bin.part").write_bytes(b"junk")
        with pytest.raises(DownloadUnavailableError, match="HTTP 206"):
            download_file(server.url("/k.bin"), dest, progress=False, timeout=5)
        return
    _interrupted_once(server, "/k.bin", v1, dest)
    if broken == "bad_sidecar":
        (tmp_path / "k.bin.part.json").write_text("{not json")
    else:
        setattr(server, broken, 7 if broken == "shift_range" else True)
        server.files["/k.bin"] = v2 if broken == "ignore_if_range" else v1
    want = v2 if broken == "ignore_if_range" else v1
    assert download_file(server.url("/k.bin"), dest, progress=False, timeout=5).read_bytes() == want


def test_part_longer_than_remote_without_checksum(server, tmp_path):
    dest = tmp_path / "m.bin"
    _interrupted_once(server, "/m.bin", b"x" * 10_000, dest)
    server.files["/m.bin"] = b"short"  # changed and shorter: the server ignores the stale range
    assert download_file(server.url("/m.bin"), dest, progress=False, timeout=5).read_bytes() == b"short"
    (tmp_path / "n.bin.part").write_bytes(b"y" * 5000)  # no sidecar, no checksum: not resumed at all
    server.files["/n.bin"] = b"z" * 100
    assert download_file(server.url("/n.bin"), tmp_path / "n.bin", progress=False, timeout=5).read_bytes() == b"z" * 100


def test_unreachable_and_offline(tmp_path, monkeypatch):
    url = closed_port_url("thing.tar.xz")
    for offline in (False, True):
        if offline:
            monkeypatch.setenv("ADLIB_OFFLINE", "1")
        with pytest.raises(DownloadUnavailableError) as ei:
            download_file(url, tmp_path / "sub" / "thing.tar.xz", sha256="ab" * 32, progress=False, timeout=2)
        msg = str(ei.value)
        assert "thing.tar.xz" in msg and url in msg and str((tmp_path / "sub").resolve()) in msg
        assert "ab" * 32 in msg
        assert ("ADLIB_OFFLINE" in msg) == offline


# ---------------------------------------------------------------- extract_archive


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("suffix,mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz"),
                                         (".tar.xz", "w:xz"), (".zip", None)])
def test_extract_formats(tmp_path, suffix, mode):
    members = {"top/a.txt": b"a", "top/sub/b.txt": b"bb"}
    arc = tmp_path / f"arc{suffix}"
    make_zip(arc, members) if mode is None else make_tar(arc, members, mode)
    extract_archive(arc, tmp_path / "out", progress=False)
    assert (tmp_path / "out/top/sub/b.txt").read_bytes() == b"bb"


def _evil_tars(tmp_path: Path):
    def one(name, build):
        p = tmp_path / f"{name}.tar"
        with tarfile.open(p, "w") as tf:
            tf.addfile(tarfile.TarInfo("ok.txt"), io.BytesIO(b""))
            build(tf)
        return p

    def file(n):
        return lambda tf: tf.addfile(tarfile.TarInfo(n), io.BytesIO(b""))

    def link(n, target, kind):
        def build(tf):
            info = tarfile.TarInfo(n)
            info.type, info.linkname = kind, target
            tf.addfile(info)
        return build

    def dev(tf):
        info = tarfile.TarInfo("null")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        tf.addfile(info)

    return [one("dotdot", file("../evil")), one("nested", file("a/../../evil")), one("abs", file("/tmp/evil_abs")),
            one("sym", link("etc", "/etc", tarfile.SYMTYPE)), one("symrel", link("up", "../../..", tarfile.SYMTYPE)),
            one("hard", link("pw", "/etc/passwd", tarfile.LNKTYPE)), one("dev", dev)]


def test_malicious_archives_rejected(tmp_path):
    dest = tmp_path / "box" / "dest"
    archives = _evil_tars(tmp_path) + [
        make_zip(tmp_path / "dotdot.zip", {"../evil": b"x"}),
        make_zip(tmp_path / "abs.zip", {"/tmp/evil_abs": b"x"}),
        make_zip(tmp_path / "win.zip", {"..\\evil": b"x"}),
    ]
    for arc in archives:
        with pytest.raises(UnsafeArchiveError):
            extract_archive(arc, dest, progress=False)
    outside = [p for p in (tmp_path / "box").rglob("*") if dest not in (p, *p.parents)]
    assert outside == [] and not (tmp_path / "evil").exists() and not Path("/tmp/evil_abs").exists()
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_internal_symlink_allowed(tmp_path):
    arc = tmp_path / "ok.tar"
    with tarfile.open(arc, "w") as tf:
        info = tarfile.TarInfo("d/f.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
        info = tarfile.TarInfo("d/link")
        info.type, info.linkname = tarfile.SYMTYPE, "f.txt"
        tf.addfile(info)
        info = tarfile.TarInfo("d/e/up")
        info.type, info.linkname = tarfile.SYMTYPE, "../f.txt"
        tf.addfile(info)
    extract_archive(arc, tmp_path / "out", progress=False)
    assert (tmp_path / "out/d/link").read_bytes() == b"hi" == (tmp_path / "out/d/e/up").read_bytes()


# ---------------------------------------------------------------- fake datasets


def _img(ext: str, value: int = 128, mask: bool = False) -> bytes:
    arr = np.zeros((8, 8), np.uint8)
    arr[2:5, 2:5] = 255 if mask else value
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format={"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[ext.lower()])
    return buf.getvalue()


def fake_members(name: str) -> dict[str, dict[str, bytes]]:
    """Archive name → members, mimicking each dataset's top-level layout (tiny images)."""
    png = _img("png")
    if name == "mvtec_ad":
        m = {f"{c}/{s}/good/000.png": png for c in sources.MVTEC_CATS for s in ("train", "test")}
        return {"mvtec_anomaly_detection.tar.xz": {**m, "license.txt": b"CC BY-NC-SA 4.0"}}
    if name == "mvtec_loco":
        m = {f"{c}/{s}/good/000.png": png for c in sources.LOCO_CATS for s in ("train", "validation", "test")}
        return {"mvtec_loco_anomaly_detection.tar.xz": m}
    if name == "visa":
        m, rows = {}, ["object,split,label,image,mask"]
        for c in sources.VISA_CATS:
            for i, split in enumerate(("train", "train", "test")):
                img = f"{c}/Data/Images/Normal/{i:04d}.JPG"
                m[img] = _img("jpg")
                rows.append(f"{c},{split},normal,{img},")
            img, mask = f"{c}/Data/Images/Anomaly/000.JPG", f"{c}/Data/Masks/Anomaly/000.png"
            m[img], m[mask] = _img("jpg", 30), _img("png", mask=True)
            rows.append(f"{c},test,anomaly,{img},{mask}")
        m["split_csv/1cls.csv"] = ("\n".join(rows) + "\n").encode()
        return {"VisA_20220922.tar": m}
    if name == "btad":
        return {"btad.zip": {f"BTech_Dataset_transformed/{c}/{s}/0000.bmp": _img("bmp")
                             for c in ("01", "02", "03") for s in ("train/ok", "test/ok", "test/ko")}}
    if name == "mtd":
        top, m = "Magnetic-tile-defect-datasets.-master", {}
        for folder in sources.MTD_FOLDERS:
            for i in range(5 if folder == "MT_Free" else 1):
                m[f"{top}/{folder}/Imgs/exp1_num_{i}.jpg"] = _img("jpg")
                m[f"{top}/{folder}/Imgs/exp1_num_{i}.png"] = _img("png", mask=folder != "MT_Free")
        return {f"{top}.zip": {**m, f"{top}/README.md": b"readme"}}
    if name == "dagm":  # Class3.zip without a top folder: must land in dagm/Class3/
        return {f"Class{i}.zip": {f"{'' if i == 3 else f'Class{i}/'}{s}/0001.PNG": png for s in ("Train", "Test")}
                for i in range(1, 11)}
    if name == "dtd":
        return {"dtd-r1.0.1.tar.gz": {f"dtd/images/{c}/{c}_0001.jpg": _img("jpg") for c in ("banded", "zigzagged")}
                | {"dtd/labels/train1.txt": b"banded/banded_0001.jpg\n"}}
    raise KeyError(name)


def build_archive(path: Path, members: dict[str, bytes]) -> bytes:
    if path.name.endswith(".zip"):
        make_zip(path, members)
    else:
        mode = {".xz": "w:xz", ".gz": "w:gz", ".tar": "w"}[path.suffix]
        make_tar(path, members, mode)
    return path.read_bytes()


@pytest.fixture
def serve_dataset(server, tmp_path, monkeypatch):
    """Serve fake archives of a dataset and point its manifest entry (URL + SHA-256) at them."""

    def setup(name: str, with_checksums: bool = True):
        src = sources.get_source(name)
        blobs = {}
        (tmp_path / "srv").mkdir(exist_ok=True)
        for arc, members in fake_members(name).items():
            blobs[arc] = data = build_archive(tmp_path / "srv" / arc, members)
            server.files[f"/{name}/{arc}"] = data
        files = []
        for f in src.files:
            if f.name in blobs:
                f = dataclasses.replace(f, urls=(server.url(f"/{name}/{f.name}"),),
                                        sha256=sha(blobs[f.name]) if with_checksums else None, md5=None)
            else:  # e.g. the VisA split CSV: 404 here, the tar ships it
                f = dataclasses.replace(f, urls=(server.url(f"/{name}/missing/{f.name}"),))
            files.append(f)
        monkeypatch.setitem(sources.SOURCES, src.name, dataclasses.replace(src, files=tuple(files)))
        return blobs

    return setup


def load_download_script(name: str):
    return load_script(f"data_scripts/download_{name}.py")


# ---------------------------------------------------------------- fetch


def test_fetch_idempotent_and_manual_file(serve_dataset, server, tmp_path):
    blobs = serve_dataset("dtd")
    root = tmp_path / "data"
    out = fetch("dtd", root, progress=False, timeout=5)
    assert out == root / "dtd/images" and (out / "banded/banded_0001.jpg").is_file()
    state = json.loads((root / ".adlib/dtd.json").read_text())
    assert state["complete"] and state["files"]["dtd-r1.0.1.tar.gz"]["sha256"] == sha(blobs["dtd-r1.0.1.tar.gz"])
    n = len(server.requests)
    stamp = (out / "zigzagged/zigzagged_0001.jpg").stat().st_mtime_ns
    assert fetch("dtd", root, progress=False) == out  # marker: no network, no re-extraction
    assert len(server.requests) == n and (out / "zigzagged/zigzagged_0001.jpg").stat().st_mtime_ns == stamp
    (out / "banded/banded_0001.jpg").unlink()  # damaged: found by the file list, restored from the kept archive
    assert fetch("dtd", root, progress=False) == out
    assert len(server.requests) == n and (out / "banded/banded_0001.jpg").is_file()
    # a file put in place by hand is used offline, without any request
    root2 = tmp_path / "manual"
    root2.mkdir()
    (root2 / "dtd-r1.0.1.tar.gz").write_bytes(blobs["dtd-r1.0.1.tar.gz"])
    assert fetch("dtd", root2, offline=True, progress=False).is_dir() and len(server.requests) == n


def test_fetch_refuses_malicious_archive_and_stays_incomplete(server, tmp_path, monkeypatch):
    """Issue 14: the CVE-2025-4517 tar, served on 127.0.0.1, overwrote a file two levels above the
    data root through fetch() and the dataset was marked complete."""
    from test_archive_security import cve_2025_4517_tar

    blob = cve_2025_4517_tar(tmp_path / "poc.tar.gz", up=2, mode="w:gz").read_bytes()
    server.files["/dtd/evil.tar.gz"] = blob
    src = sources.get_source("dtd")
    f = dataclasses.replace(src.files[0], urls=(server.url("/dtd/evil.tar.gz"),), sha256=sha(blob), md5=None)
    monkeypatch.setitem(sources.SOURCES, "dtd", dataclasses.replace(src, files=(f,)))
    root = tmp_path / "box" / "data"
    victim = tmp_path / "victim.txt"  # root/../.. : where the archive writes
    victim.write_bytes(b"original")
    for _ in range(2):  # refused again on a second run: never skipped as done
        with pytest.raises(UnsafeArchiveError, match="link member"):
            fetch("dtd", root, progress=False, timeout=5)
        assert victim.read_bytes() == b"original"
        assert not json.loads((root / ".adlib/dtd.json").read_text())["complete"]
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["data"]
    assert not [p for p in root.rglob("*") if p.is_symlink()]


def test_fetch_offline_message(serve_dataset, tmp_path):
    serve_dataset("mvtec_ad")
    with pytest.raises(DownloadUnavailableError) as ei:
        fetch("mvtec_ad", tmp_path / "data", offline=True, progress=False)
    msg = str(ei.value)
    src = sources.get_source("mvtec_ad")
    for needle in ("mvtec_anomaly_detection.tar.xz", src.files[0].urls[0], src.files[0].sha256, src.page,
                   str((tmp_path / "data").resolve()), "download_mvtec_ad.py"):
        assert needle in msg


def test_fetch_remove_archive_and_existing_tree(serve_dataset, tmp_path):
    serve_dataset("btad")
    root = tmp_path / "data"
    fetch("btad", root, keep_archive=False, progress=False, timeout=5)
    assert not (root / "btad.zip").exists() and (root / "btad/BTech_Dataset_transformed/03/test/ko").is_dir()
    (root / ".adlib/btad.json").unlink()  # an extracted tree without archive or marker is accepted offline
    assert fetch("btad", root, offline=True, progress=False) == root / "btad/BTech_Dataset_transformed"


def test_fetch_corrupt_manual_file(serve_dataset, tmp_path):
    serve_dataset("btad")
    root = tmp_path / "data"
    root.mkdir()
    (root / "btad.zip").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match="btad.zip"):
        fetch("btad", root, offline=True, progress=False)
    assert (root / "btad.zip.corrupt").is_file()


# ---------------------------------------------------------------- data scripts end to end


@pytest.mark.parametrize("name", ["mvtec_ad", "mvtec_loco", "btad", "dagm", "dtd", "visa", "mtd"])
def test_scripts_end_to_end(name, serve_dataset, server, tmp_path, capsys):
    if name == "visa":
        pytest.importorskip("adlib.data.visa")
    if name == "mtd":
        pytest.importorskip("adlib.data.mtd")
    serve_dataset(name, with_checksums=name not in ("dagm", "mtd"))
    root = tmp_path / "data"
    main = load_download_script(name).main
    assert main(["--root", str(root), "--no-progress", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    src = sources.get_source(name)
    assert str(root / src.dataset_dir) in out
    n = len(server.requests)
    assert main(["--root", str(root), "--no-progress", "--offline"]) == 0 and len(server.requests) == n
    if name == "visa":
        assert (root / "visa/candle/train/good/0000.JPG").is_file()
        mask = np.asarray(Image.open(root / "visa/pcb4/ground_truth/bad/000.png"))
        assert set(np.unique(mask)) <= {0, 255}
    if name == "mtd":
        assert (root / "mtd/split.json").is_file() and (root / "mtd/test/crack").is_dir()
    if name == "dagm":
        assert (root / "dagm/Class3/Train/0001.PNG").is_file() and (root / "dagm/Class10/Test").is_dir()


def test_script_errors_are_clean(tmp_path, monkeypatch, capsys):
    src = sources.get_source("btad")
    monkeypatch.setitem(sources.SOURCES, "btad", dataclasses.replace(
        src, files=(dataclasses.replace(src.files[0], urls=(closed_port_url("btad.zip"),)),)))
    assert load_download_script("btad").main(["--root", str(tmp_path), "--no-progress", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "btad.zip" in err and str(tmp_path) in err


def test_manifest_is_sane():
    for name, src in sources.SOURCES.items():
        assert src.license and src.page and src.script == f"data_scripts/download_{name}.py"
        assert (REPO / src.script).is_file()
        for f in src.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.md5 is None or re.fullmatch(r"[0-9a-f]{32}", f.md5)
            assert f.sha256 or f.md5 or src.notes  # a missing checksum is explained
            assert all(u.startswith("https://") for u in f.urls)


def test_fetch_mirror_fallback(serve_dataset, server, tmp_path, monkeypatch):
    serve_dataset("dtd")
    src = sources.get_source("dtd")
    f = src.files[0]
    monkeypatch.setitem(sources.SOURCES, "dtd", dataclasses.replace(
        src, files=(dataclasses.replace(f, urls=(server.url("/gone.tar.gz"), *f.urls)),)))
    assert fetch("dtd", tmp_path, progress=False, timeout=5).is_dir()
    assert [r["path"] for r in server.requests] == ["/gone.tar.gz", "/dtd/dtd-r1.0.1.tar.gz"]


def test_fetch_lists_every_missing_file(serve_dataset, tmp_path):
    serve_dataset("dagm", with_checksums=False)
    with pytest.raises(DownloadUnavailableError) as ei:
        fetch("dagm", tmp_path, offline=True, progress=False)
    msg = str(ei.value)
    assert all(f"Class{i}.zip" in msg for i in range(1, 11)) and "put them in" in msg


def test_prepare_rerun_when_settings_change(serve_dataset, tmp_path):
    serve_dataset("btad")
    calls = []

    def hook(src, root, progress=True, **kw):
        calls.append(kw)
        return root / "btad"

    fetch("btad", tmp_path, progress=False, prepare=hook, prepare_kwargs={"size": 64}, timeout=5)
    fetch("btad", tmp_path, progress=False, prepare=hook, prepare_kwargs={"size": 64})
    fetch("btad", tmp_path, progress=False, prepare=hook, prepare_kwargs={"size": 128})
    assert calls == [{"size": 64}, {"size": 128}]
