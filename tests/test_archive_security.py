"""Hostile archives (issue 14): built here, extracted into a folder inside a sandbox whose every
other file is snapshotted; nothing outside the destination may change, no link is ever created."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from adlib.data.archive import MAX_HOPS
from adlib.data.download import DownloadError, UnsafeArchiveError, extract_archive

F, D, SYM, HARD, DEV, FIFO = "file", "dir", "sym", "hard", "dev", "fifo"


def make_tar(path: Path, members, mode: str = "w") -> Path:
    """``members``: (name, kind, data-or-linkname) in archive order."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            if kind == F:
                info.size = len(arg)
                tf.addfile(info, io.BytesIO(arg))
                continue
            info.type = {D: tarfile.DIRTYPE, SYM: tarfile.SYMTYPE, HARD: tarfile.LNKTYPE,
                         DEV: tarfile.CHRTYPE, FIFO: tarfile.FIFOTYPE}[kind]
            if kind in (SYM, HARD):
                info.linkname = arg
            tf.addfile(info)
    return path


def make_zip(path: Path, members) -> Path:
    """``members``: (name, kind, data-or-target); ``kind`` sym/dev set the unix mode bits."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, arg in members:
            info = zipfile.ZipInfo(name.replace("\x00", "#"))
            info.create_system = 3
            fmt = {F: stat.S_IFREG | 0o644, SYM: stat.S_IFLNK | 0o777, DEV: stat.S_IFCHR | 0o644,
                   D: stat.S_IFDIR | 0o755}[kind]
            info.external_attr = fmt << 16
            zf.writestr(info, arg.encode() if isinstance(arg, str) else arg)
    if any("\x00" in n for n, _, _ in members):  # zipfile cuts names at NUL: patch the bytes in
        raw = path.read_bytes()
        for n, _, _ in members:
            raw = raw.replace(n.replace("\x00", "#").encode(), n.encode())
        path.write_bytes(raw)
    return path


def cve_2025_4517_tar(path: Path, up: int = 2, victim: str = "victim.txt", mode: str = "w") -> Path:
    """The PATH_MAX symlink chain of CVE-2025-4517: 16 nested 247-char folders reached through
    one-letter links, a link back up through all of them, then ``escape`` -> that link + ``..`` x up,
    and a file written through ``escape`` (``os.path.realpath`` gives up past PATH_MAX)."""
    comp, steps, members, p = "d" * 247, "abcdefghijklmnop", [], ""
    for s in steps:
        members += [(os.path.join(p, comp), D, None), (os.path.join(p, s), SYM, comp)]
        p = os.path.join(p, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    members += [(linkpath, SYM, "../" * len(steps)), ("escape", SYM, linkpath + "/.." * up),
                (f"escape/{victim}", F, b"pwned")]
    return make_tar(path, members, mode)


@pytest.fixture
def box(tmp_path):
    """A sandbox with files outside the destination; ``check()`` asserts none of them changed."""
    root = tmp_path / "box"
    (root / "outside").mkdir(parents=True)
    (root / "victim.txt").write_bytes(b"original")
    (root / "outside/secret.txt").write_bytes(b"secret")
    dest = root / "a" / "dest"
    dest.parent.mkdir()

    def snap():
        out = {}
        for p in sorted(root.rglob("*")):
            if dest in (p, *p.parents):
                continue
            st = p.lstat()
            body = os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest() \
                if p.is_file() else None
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), body)
        return out

    before = snap()

    def check():
        assert snap() == before, "something outside the destination changed"
        if dest.exists():
            links = [p for p in dest.rglob("*") if p.is_symlink()]
            assert links == [], f"links created: {links}"

    class Box:
        pass

    b = Box()
    b.root, b.dest, b.check, b.arcs = root, dest, check, tmp_path / "arcs"
    b.arcs.mkdir()
    return b


def refused(box, arc: Path, member: str, why: str = ""):
    with pytest.raises(UnsafeArchiveError) as err:
        extract_archive(arc, box.dest, progress=False)
    assert repr(member)[1:-1] in str(err.value) and why in str(err.value), str(err.value)
    box.check()
    return str(err.value)


def test_cve_2025_4517_symlink_chain_past_path_max(box):
    arc = cve_2025_4517_tar(box.arcs / "poc.tar.gz", mode="w:gz")
    assert arc.stat().st_size < 4096  # a tiny archive
    msg = refused(box, arc, "a/b/c", "written through the link member 'a'")
    assert "delete" in msg and (box.root / "victim.txt").read_bytes() == b"original"


@pytest.mark.parametrize("up", [1, 2, 3])
def test_cve_chain_any_depth_plain_tar(box, up):
    refused(box, cve_2025_4517_tar(box.arcs / f"poc{up}.tar", up=up), "a/b/c")


@pytest.mark.parametrize("members,member,why", [
    ([("s", SYM, "/PLACEHOLDER/outside"), ("s/x.txt", F, b"x")], "s", "absolute"),
    ([("s", SYM, "../../outside"), ("s/x.txt", F, b"x")], "s/x.txt", "written through the link member 's'"),
    ([("s", SYM, "../../victim.txt")], "s", "leaves the archive"),
    ([("d/f.txt", F, b"f"), ("inner", SYM, "d"), ("inner/x.txt", F, b"x")], "inner/x.txt", "written through"),
    ([("d/f.txt", F, b"f"), ("inner", SYM, "d")], "inner", "link to the folder 'd'"),
    ([("h", HARD, "/PLACEHOLDER/victim.txt")], "h", "absolute"),
    ([("h", HARD, "../../victim.txt")], "h", "'..'"),
    ([("h", HARD, "missing.txt")], "h", "not a file of this archive"),
    ([("s", SYM, "missing.txt")], "s", "not a file of this archive"),
    ([("x", SYM, "y"), ("y", SYM, "x")], "x", f"more than {MAX_HOPS} links"),
    # the meaning of an earlier link changes with a later one: resolved at the end, by name
    ([("f.txt", F, b"f"), ("A", SYM, "b/../../victim.txt"), ("b", SYM, ".")], "A", "leaves the archive"),
    ([("A", SYM, "b/../f.txt"), ("f.txt", F, b"f"), ("b", SYM, ".")], "A", "leaves the archive"),
    ([("d/x", F, b"x"), ("d", SYM, "e")], "d", "over a folder"),
    ([("null", DEV, None)], "null", "device"),
    ([("fifo", FIFO, None)], "fifo", "fifo"),
    ([("ok.txt", F, b""), ("../evil.txt", F, b"x")], "../evil.txt", "'..'"),
    ([("/PLACEHOLDER/evil.txt", F, b"x")], "/PLACEHOLDER/evil.txt", "absolute"),
    ([("C:\\evil.txt", F, b"x")], "C:\\evil.txt", "absolute"),
    ([("\\\\host\\share\\evil.txt", F, b"x")], "\\\\host\\share\\evil.txt", "absolute"),
    ([("a\\..\\..\\evil.txt", F, b"x")], "a\\..\\..\\evil.txt", "'..'"),
])
def test_malicious_tar_refused(box, members, member, why):
    fix = str(box.root).lstrip("/")
    members = [(n.replace("PLACEHOLDER", fix), k, a.replace("PLACEHOLDER", fix) if isinstance(a, str) else a)
               for n, k, a in members]
    refused(box, make_tar(box.arcs / "evil.tar", members), member.replace("PLACEHOLDER", fix), why)
    assert not (box.root / "evil.txt").exists() and not (box.root / "a/evil.txt").exists()


@pytest.mark.parametrize("members,member,why", [
    ([("link", SYM, "../../victim.txt")], "link", "leaves the archive"),
    ([("link", SYM, "/etc/passwd")], "link", "absolute"),
    ([("d/f.txt", F, b"f"), ("link", SYM, "d"), ("link/x.txt", F, b"x")], "link/x.txt", "written through"),
    ([("link", SYM, "../../outside"), ("link/x.txt", F, b"x")], "link/x.txt", "written through"),
    ([("null", DEV, b"")], "null", "device"),
    ([("..\\evil.txt", F, b"x")], "..\\evil.txt", "'..'"),
    ([("C:/evil.txt", F, b"x")], "C:/evil.txt", "absolute"),
    ([("ok.txt\x00/../../../evil.txt", F, b"x")], "ok.txt\x00/../../../evil.txt", "NUL"),
])
def test_malicious_zip_refused(box, members, member, why):
    refused(box, make_zip(box.arcs / "evil.zip", members), member, why)


def test_existing_symlink_in_destination_is_never_written_through(box):
    box.dest.mkdir()
    (box.dest / "pre").symlink_to(box.root / "outside")
    for arc in (make_tar(box.arcs / "t.tar", [("pre/secret.txt", F, b"x")]),
                make_zip(box.arcs / "t.zip", [("pre/secret.txt", F, b"x")])):
        with pytest.raises(UnsafeArchiveError, match="is a symlink"):
            extract_archive(arc, box.dest, progress=False)
    (box.dest / "pre").unlink()
    box.check()


def test_existing_links_as_targets_are_replaced_not_followed(box):
    """A symlink or hard link already at a member's path is replaced by a new file."""
    box.dest.mkdir()
    (box.dest / "s.txt").symlink_to(box.root / "victim.txt")
    os.link(box.root / "outside/secret.txt", box.dest / "h.txt")
    extract_archive(make_tar(box.arcs / "t.tar", [("s.txt", F, b"new"), ("h.txt", F, b"new")]), box.dest,
                    progress=False)
    assert (box.dest / "s.txt").read_bytes() == b"new" == (box.dest / "h.txt").read_bytes()
    box.check()


def test_links_to_files_become_copies(box):
    members = [("d/e/up", SYM, "../f.txt"), ("d/f.txt", F, b"hi"), ("d/link", SYM, "e/up"), ("d/hard", HARD, "d/f.txt"),
               ("d/via", SYM, "../d/./f.txt"), ("x\\y.txt", F, b"win")]
    extract_archive(make_tar(box.arcs / "ok.tar", members), box.dest, progress=False)
    for name in ("d/e/up", "d/link", "d/hard", "d/via"):
        p = box.dest / name
        assert p.read_bytes() == b"hi" and not p.is_symlink(), name
    assert (box.dest / "x/y.txt").read_bytes() == b"win"  # a backslash is a separator
    zarc = make_zip(box.arcs / "ok.zip", [("f.txt", F, b"z"), ("l", SYM, "f.txt"), ("w\\", F, b""),
                                          ("w\\v.txt", F, b"v")])
    extract_archive(zarc, box.dest / "z", progress=False)
    assert (box.dest / "z/l").read_bytes() == b"z" and not (box.dest / "z/l").is_symlink()
    assert (box.dest / "z/w/v.txt").read_bytes() == b"v"
    assert not [p for p in box.dest.rglob("*") if p.name.startswith(".adlib-")]  # no temporary files left
    box.check()


@pytest.mark.parametrize("damage", ["truncated_gz", "garbage_zip", "truncated_zip", "truncated_tar", "file_as_dir"])
def test_damaged_archives_name_the_file(box, damage):
    data = b"".join(bytes([i % 251]) for i in range(50_000))
    tgz = make_tar(box.arcs / "ok.tar.gz", [("a.bin", F, data), ("b.bin", F, data)], "w:gz")
    zp = make_zip(box.arcs / "ok.zip", [("a.bin", F, data), ("b.bin", F, data)])
    arc = box.arcs / f"bad-{damage}"
    if damage == "truncated_gz":
        arc = arc.with_suffix(".tar.gz")
        arc.write_bytes(tgz.read_bytes()[: tgz.stat().st_size // 2])
    elif damage == "garbage_zip":
        arc = arc.with_suffix(".zip")
        arc.write_bytes(b"PK\x03\x04" + data[:3000])
    elif damage == "truncated_zip":
        arc = arc.with_suffix(".zip")
        raw = bytearray(zp.read_bytes())
        raw[200:400] = bytes(200)  # a damaged member; the central directory is intact
        arc.write_bytes(bytes(raw))
    elif damage == "truncated_tar":
        raw = make_tar(box.arcs / "ok.tar", [("a.bin", F, data)]).read_bytes()
        arc = arc.with_suffix(".tar")
        arc.write_bytes(raw[:20_000])
    else:
        arc = make_tar(arc.with_suffix(".tar"), [("a", F, b"x"), ("a/b", F, b"y")])
    with pytest.raises(DownloadError) as err:
        extract_archive(arc, box.dest, progress=False)
    msg = str(err.value)
    assert arc.name in msg and ("delete" in msg or "damaged" in msg), msg
    assert not [p for p in box.dest.rglob("*") if p.name.startswith(".adlib-")]
    box.check()


def test_gz_poc_is_really_small_and_would_escape_realpath(tmp_path):
    """Sanity: the chain's expansion is past PATH_MAX, so a realpath-based check cannot see it."""
    arc = cve_2025_4517_tar(tmp_path / "poc.tar")
    with tarfile.open(arc) as tf:
        names = tf.getnames()
    assert len(names) == 35 and 16 * 248 + 255 > os.pathconf("/", "PC_PATH_MAX")
    assert len(gzip.compress(arc.read_bytes())) < 4096


def test_write_failures_and_space_name_the_member(box, monkeypatch):
    long = "n" * 300 + ".png"  # longer than NAME_MAX
    with pytest.raises(DownloadError, match=f"cannot write member '{long}'.*then run again"):
        extract_archive(make_tar(box.arcs / "long.tar", [(long, F, b"x")]), box.dest, progress=False)
    zarc = make_zip(box.arcs / "big.zip", [("a.bin", F, b"x" * 1000)])
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 10})())
    with pytest.raises(DownloadError, match="big.zip unpacks to .* GB but .* free; free some space"):
        extract_archive(zarc, box.dest, progress=False)
    assert not (box.dest / "a.bin").exists()
    box.check()
