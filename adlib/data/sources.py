"""Manifest of the datasets adlib can fetch: official URLs, file names, checksums, licences.

Every checksum below was copied from a named public source (see ``checksum_source``); where none
was found it is ``None`` and ``notes`` says so -- never invent one. ``fetch`` records the SHA-256
of every file it uses in ``<root>/.adlib/<name>.json``, so unverified downloads stay traceable.
Paths (``subdir``, ``extract_to``, ``dataset_dir``) are relative to the data root.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import DatasetNotFoundError
from .io import is_image_file


@dataclass(frozen=True)
class RemoteFile:
    """One file to download (official URL first, then mirrors; empty ``urls`` = manual only)."""

    name: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None  # bytes, informational
    checksum_source: str = ""
    subdir: str = ""  # where it is saved, relative to the root
    extract: bool = True
    optional: bool = False
    top_dir: str | None = None  # zip without this top folder is extracted into extract_to/top_dir


@dataclass(frozen=True)
class DatasetSource:
    """A dataset: its files, where they unpack, what must exist afterwards, how to prepare it."""

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    page: str
    license: str
    citation: str
    extract_to: str
    dataset_dir: str
    expected: tuple[str, ...]  # glob patterns under extract_to that must match after extraction
    script: str
    form: bool = False  # the page asks for a form / licence click before downloading
    manual: str = ""
    prepare: Callable[..., Path] | None = None
    notes: str = ""


def _call(fn: Callable, *args, **kwargs):
    """Call ``fn`` with only the keyword arguments its signature accepts."""
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(*args, **kwargs)


def prepare_visa(src: Path, root: Path, progress: bool = True, **kwargs) -> Path:
    """Raw VisA (``src``) → MVTec layout in ``root/visa`` with the official 1cls split."""
    from .visa import convert_visa  # lazy: written separately, heavy imports

    csv = src / "split_csv" / "1cls.csv"
    if not csv.is_file():
        raise DatasetNotFoundError(f"VisA split file missing: {csv}; download {VISA_CSV_URL} and put it there")
    return Path(_call(convert_visa, src, root / "visa", split_csv=csv, progress=progress, **kwargs))


def prepare_mtd_hook(src: Path, root: Path, progress: bool = True, **kwargs) -> Path:
    """Raw MTD (folder holding ``MT_Free``) → MVTec layout in ``root/mtd`` (seeded 80/20 split)."""
    from .mtd import prepare_mtd  # lazy

    cands = [src, *sorted(p for p in src.iterdir() if p.is_dir())] if src.is_dir() else [src]
    raw = next((c for c in cands if (c / "MT_Free").is_dir()), src)
    kwargs.setdefault("size", None)
    kwargs.setdefault("seed", 0)
    return Path(_call(prepare_mtd, raw, root, progress=progress, **kwargs))


MVTEC_CATS = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill",
              "screw", "tile", "toothbrush", "transistor", "wood", "zipper")
LOCO_CATS = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")
VISA_CATS = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2",
             "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum")
MTD_FOLDERS = ("MT_Free", "MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven")
VISA_CSV_URL = "https://raw.githubusercontent.com/amazon-science/spot-diff/main/split_csv/1cls.csv"
ANOMALIB = "open-edge-platform/anomalib "
MYDRIVE = "https://www.mydrive.ch/shares/"

SOURCES: dict[str, DatasetSource] = {s.name: s for s in (
    DatasetSource(
        "mvtec_ad", "MVTec AD",
        (RemoteFile("mvtec_anomaly_detection.tar.xz", (
            "https://www.mvtec.com/fileadmin/Redaktion/mvtec.com/company/research/datasets/"
            "mvtec_anomaly_detection.tar.xz",
            MYDRIVE + "38536/3830184030e49fe74747669442f0f283/download/420938113-1629960298/"
            "mvtec_anomaly_detection.tar.xz"),
            sha256="cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d", size=5_264_982_680,
            checksum_source=ANOMALIB + "src/anomalib/data/datamodules/image/mvtecad.py (DOWNLOAD_INFO.hashsum); "
            "size from a third-party download record with the same SHA-256"),),
        page="https://www.mvtec.com/company/research/datasets/mvtec-ad/downloads", form=True,
        license="CC BY-NC-SA 4.0 (non-commercial; do not re-host)",
        citation="Bergmann et al., MVTec AD, CVPR 2019 / IJCV 2021",
        extract_to="mvtec_ad", dataset_dir="mvtec_ad", expected=MVTEC_CATS,
        script="data_scripts/download_mvtec_ad.py",
        manual="the file is behind a licence form; a direct link may work (see notes) or rot at any time",
        notes="The direct links rot (anomalib #3121, #3441, #3608): the mvtec.com/fileadmin URL is the one "
              "third-party scripts use since 2026 (not in anomalib's snapshot, unverified); the mydrive '...f283' "
              "link is anomalib's (reported 404 in 2026-05); the older '...f282/.../420938113-1629952094' link is "
              "dead. Older anomalib used MD5 eefca59f2cede9c3fc5b6befbfec275e for the same archive name (not "
              "enforced: not cross-checked against the SHA-256)."),
    DatasetSource(
        "mvtec_loco", "MVTec LOCO AD",
        (RemoteFile("mvtec_loco_anomaly_detection.tar.xz", (
            MYDRIVE + "48237/1b9106ccdfbb09a0c414bd49fe44a14a/download/430647091-1646842701/"
            "mvtec_loco_anomaly_detection.tar.xz",),
            sha256="9e7c84dba550fd2e59d8e9e231c929c45ba737b6b6a6d3814100f54d63aae687", size=6_126_996_224,
            checksum_source=ANOMALIB + "src/anomalib/data/datasets/image/mvtec_loco.py (DOWNLOAD_INFO.hashsum); "
            "the same SHA-256 and the size are in an independent third-party download record"),),
        page="https://www.mvtec.com/company/research/datasets/mvtec-loco/downloads", form=True,
        license="CC BY-NC-SA 4.0 (non-commercial; do not re-host)",
        citation="Bergmann et al., Beyond Dents and Scratches (MVTec LOCO AD), IJCV 2022",
        extract_to="mvtec_loco", dataset_dir="mvtec_loco", expected=LOCO_CATS,
        script="data_scripts/download_mvtec_loco.py",
        manual="the file is behind a licence form; the direct link above may have moved",
        notes="URL as in anomalib and nelson1425/EfficientAD. An anomalib-style fork lists MD5 "
              "d40f092ac6f88433f609583c4a05f56f (not enforced, not cross-checked). A third-party audit of the "
              "archive with this SHA-256 found 6 extra train and 1 extra validation image in splicing_connectors."),
    DatasetSource(
        "visa", "VisA",
        (RemoteFile("VisA_20220922.tar", ("https://amazon-visual-anomaly.s3.us-west-2.amazonaws.com/VisA_20220922.tar",),
                    sha256="2eb8690c803ab37de0324772964100169ec8ba1fa3f7e94291c9ca673f40f362",
                    checksum_source=ANOMALIB + "src/anomalib/data/datamodules/image/visa.py (DOWNLOAD_INFO.hashsum)"),
         RemoteFile("1cls.csv", (VISA_CSV_URL,), subdir="visa_raw/split_csv", extract=False, optional=True,
                    checksum_source="none published")),
        page="https://github.com/amazon-science/spot-diff",
        license="CC BY 4.0 (spot-diff README; code Apache-2.0). anomalib's docstring says CC BY-NC-SA 4.0",
        citation="Zou et al., SPot-the-Difference (VisA), ECCV 2022",
        extract_to="visa_raw", dataset_dir="visa", expected=tuple(f"{c}/Data" for c in VISA_CATS),
        script="data_scripts/download_visa.py", prepare=prepare_visa,
        notes="The spot-diff README links VisA.tar in the same bucket; anomalib and others use VisA_20220922.tar "
              "(the SHA-256 is for that file). The tar ships split_csv/1cls.csv; the GitHub copy is only "
              "fetched when the tar lacks it (no checksum published). Size not found."),
    DatasetSource(
        "btad", "BTAD (beanTech)",
        (RemoteFile("btad.zip", ("https://avires.dimi.uniud.it/papers/btad/btad.zip",),
                    sha256="461c9387e515bfed41ecaae07c50cf6b10def647b36c9e31d239ab2736b10d2a",
                    checksum_source=ANOMALIB + "src/anomalib/data/datamodules/image/btech.py (DOWNLOAD_INFO.hashsum)"),),
        page="https://avires.dimi.uniud.it/papers/btad/",
        license="not clearly stated on the page (anomalib's docstring says CC BY-NC-SA 4.0) -- verify",
        citation="Mishra et al., VT-ADL, ISIE 2021",
        extract_to="btad", dataset_dir="btad/BTech_Dataset_transformed",
        expected=tuple(f"BTech_Dataset_transformed/{c}" for c in ("01", "02", "03")),
        script="data_scripts/download_btad.py", notes="Size not found."),
    DatasetSource(
        "mtd", "Magnetic Tile Defects (MTD)",
        (RemoteFile("Magnetic-tile-defect-datasets.-master.zip",
                    ("https://github.com/abin24/Magnetic-tile-defect-datasets./archive/refs/heads/master.zip",),
                    checksum_source="none: GitHub-generated archives are not byte-stable"),),
        page="https://github.com/abin24/Magnetic-tile-defect-datasets.",
        license="none stated in the repository (cite Huang et al.)",
        citation="Huang, Qiu, Yuan, Surface defect saliency of magnetic tile, CASE 2018 / Vis. Comput. 2020",
        extract_to="mtd_raw", dataset_dir="mtd", expected=tuple(f"*/{f}" for f in MTD_FOLDERS),
        script="data_scripts/download_mtd.py", prepare=prepare_mtd_hook,
        manual="or `git clone` the repository (note the trailing dot in its name) into the mtd_raw folder",
        notes="No checksum (GitHub zips can change byte-wise); the SHA-256 of the copy used is recorded. "
              "Prepared with adlib.data.mtd.prepare_mtd (seeded 80/20 split of MT_Free)."),
    DatasetSource(
        "dagm", "DAGM 2007",
        tuple(RemoteFile(f"Class{i}.zip", (f"https://zenodo.org/records/8086136/files/Class{i}.zip?download=1",),
                         top_dir=f"Class{i}", checksum_source="none found (Zenodo lists MD5s on the record page)")
              for i in range(1, 11)),
        page="https://zenodo.org/records/8086136",
        license="CC BY 4.0 per the Zenodo record metadata (HCI page: research use) -- verify",
        citation="Wieler, Hahn, Hamprecht, Weakly Supervised Learning for Industrial Optical Inspection, DAGM 2007 "
                 "(doi:10.5281/zenodo.8086136)",
        extract_to="dagm", dataset_dir="dagm", expected=tuple(f"Class{i}" for i in range(1, 11)),
        script="data_scripts/download_dagm.py",
        manual="also on the HCI Heidelberg page 'Weakly Supervised Learning for Industrial Optical Inspection' "
               "and the Kaggle mirror mhskjelvareid/dagm-2007-competition-dataset-optical-inspection (login needed); "
               "put Class1.zip ... Class10.zip (or the extracted Class1 ... Class10 folders) in place",
        notes="Zenodo file URLs from dataset-ninja/industrial-optical-inspection metadata; zip layout unverified "
              "(a zip without a ClassN/ top folder is unpacked into ClassN/). No checksums found."),
    DatasetSource(
        "dtd", "Describable Textures Dataset (DTD)",
        (RemoteFile("dtd-r1.0.1.tar.gz", ("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",
                                          "https://thor.robots.ox.ac.uk/dtd/dtd-r1.0.1.tar.gz"),
                    sha256="e42855a52a4950a3b59612834602aa253914755c95b0cff9ead6d07395f8e205",
                    md5="fff73e5086ae6bdbea199a49dfb8a4c1", size=625_239_812,
                    checksum_source=ANOMALIB + "src/anomalib/models/image/draem/lightning_model.py (SHA-256); "
                    "torchvision.datasets.DTD._MD5 (MD5); a third-party record computed both on one 625,239,812-byte copy"),),
        page="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        license="research purposes only (images from Flickr; VGG page)",
        citation="Cimpoi et al., Describing Textures in the Wild, CVPR 2014",
        extract_to="", dataset_dir="dtd/images", expected=("dtd/images",),
        script="data_scripts/download_dtd.py",
        notes="thor.robots.ox.ac.uk is the Oxford VGG file host other scripts use as a mirror."),
)}

ALIASES = {"mvtec": "mvtec_ad", "mvtecad": "mvtec_ad", "loco": "mvtec_loco", "mvtec_loco_ad": "mvtec_loco",
           "btech": "btad", "magnetic_tile": "mtd", "dagm2007": "dagm", "textures": "dtd"}


def get_source(name: str) -> DatasetSource:
    """The manifest entry for ``name`` (aliases such as ``mvtec`` or ``btech`` accepted)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SOURCES:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[key]


def manual_message(files, folder, reasons=None, page="", note="", rerun="", form=False, reason="") -> str:
    """What to download by hand (each file with its URLs and checksum), and the folder to put it in.

    ``reasons`` holds, per file, the failures of the automatic attempts; ``reason`` applies to all.
    """
    names = ", ".join(f.name for f in files)
    lines = [f"Cannot download {names}" + (f" ({reason})" if reason else "") + ". Download by hand:"]
    for i, f in enumerate(files):
        sums = [f"SHA-256 {f.sha256}"] * bool(f.sha256) + [f"MD5 {f.md5}"] * bool(f.md5)
        lines.append(f"  {f.name}" + (f"  ({f.size / 2**30:.2f} GiB)" if f.size else ""))
        lines += [f"    URL:      {u}" for u in f.urls] or ["    URL:      none direct, see the web page"]
        lines.append("    checksum: " + (", ".join(sums) or "none published (the SHA-256 of your copy is recorded)"))
        lines += [f"    failed:   {r}" for r in (reasons[i] if reasons else [])]
    if page:
        lines.append(f"  web page:  {page}" + (" (accept the licence / fill in the form there)" * form))
    if note:
        lines.append(f"  note:      {note}")
    lines.append(f"  put {'it' if len(files) == 1 else 'them'} in: {Path(folder).expanduser().resolve()}")
    lines.append((rerun or "Then run the same command again") + "; it will verify the file(s) and continue.")
    return "\n".join(lines)


def _counts(folder: Path) -> tuple[int, int]:
    images = masks = 0
    for dirpath, _, files in os.walk(folder):
        is_mask_dir = any(p in ("ground_truth", "Label", "Masks") for p in Path(dirpath).parts)
        for f in files:
            if is_image_file(f):
                if is_mask_dir or f.lower().rsplit(".", 1)[0].endswith(("_mask", "_label")):
                    masks += 1
                else:
                    images += 1
    return images, masks


def describe(name: str, root: str | os.PathLike) -> str:
    """A short report: where the ready dataset is, its sub-folders and their image/mask counts."""
    src = get_source(name)
    base = Path(root).expanduser() / src.dataset_dir
    subs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []
    lines = [f"{src.title} ready at {base} ({len(subs)} folders)"]
    for sub in subs:
        n_img, n_mask = _counts(sub)
        lines.append(f"  {sub.name:<22} {n_img:6d} images" + (f", {n_mask} masks" if n_mask else ""))
    lines.append(f"licence: {src.license}; cite: {src.citation}")
    return "\n".join(lines)
