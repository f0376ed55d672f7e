"""DM-GRD Table 5, measured: parameters (exactly as the paper counts them) and FLOPs of one prediction.

The paper's "Params" (Table 5) is the authors' ``count_parameters`` over teacher + OCBE + decoder +
MSFF: the **whole** teacher (its unused layer4 and classifier included) and RD's never-called OCBE
conv4/bn4 — RD 161.1 M, DM-GRD with ResNet18 34.1 M, with WRN50-2 264.7 M. :func:`complexity`
gives that count and the parameters adlib actually uses (the tapped teacher stages + what trains),
plus FLOPs of ``predict`` on one image (weights random: counts do not depend on them; the memory
bank filled with random items of the right shapes).
"""

from __future__ import annotations

import torch

from adlib.methods.common.cost import count_flops, parameter_counts


def count_parameters(module, trainable_only: bool = False) -> int:
    c = parameter_counts(module)
    return c["trainable"] if trainable_only else c["total"]


def full_teacher_parameters(backbone: str) -> int:
    """Parameters of the whole ImageNet model of ``backbone`` (classifier included), as the papers count."""
    import timm

    from adlib.backbones.registry import get_spec

    return count_parameters(timm.create_model(get_spec(backbone).timm_model, pretrained=False))


@torch.no_grad()
def complexity(method: str = "dm_grd", backbone: str = "wide_resnet50_2", image_size: int = 256,
               memory_size: int = 30, flops: bool = True) -> dict:
    """``{params_paper_m, params_used_m, params_trainable_m, gflops}`` of ``method`` (``"dm_grd"`` or
    ``"rd"``) with ``backbone`` (random weights) on one ``image_size`` image."""
    from adlib.methods import build

    extra = {"memory_size": memory_size, "texture_source": "procedural"} if method == "dm_grd" else {}
    model = build(method, backbone=backbone, weights="random", with_unused_conv=True, **extra).eval()
    x = torch.zeros(1, 3, image_size, image_size)
    if method == "dm_grd":
        shapes = [f.shape[1:] for f in model.teacher_features(x)]
        g = torch.Generator().manual_seed(0)
        for bank in (model.memory.normal, model.memory.abnormal):
            bank.fill([torch.randn(memory_size, *s, generator=g) for s in shapes], range(memory_size))
    trainable = count_parameters(model, trainable_only=True)
    unused = count_parameters(model.bottleneck.unused)
    out = {"method": method, "backbone": backbone, "image_size": image_size,
           "params_paper_m": (full_teacher_parameters(backbone) + trainable) / 1e6,
           "params_used_m": (count_parameters(model.teacher) + trainable - unused) / 1e6,
           "params_trainable_m": (trainable - unused) / 1e6}
    if flops:
        out["gflops"] = count_flops(model.predict, {"image": x}) / 1e9
    return out


def table5(image_size: int = 256, flops: bool = True) -> list[dict]:
    """Table 5's rows measured here: RD (WRN50-2), DM-GRD with ResNet18 and with WRN50-2."""
    return [complexity("rd", "wide_resnet50_2", image_size, flops=flops),
            complexity("dm_grd", "resnet18", image_size, flops=flops),
            complexity("dm_grd", "wide_resnet50_2", image_size, flops=flops)]


if __name__ == "__main__":  # python -m adlib.methods.dm_grd.complexity
    for row in table5():
        print(row)
