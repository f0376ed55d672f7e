"""Model cost as papers report it: parameter counts and the FLOPs of one inference (DAF Table II).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` while the method's ``predict`` runs on
one zero image: 2 per multiply-add of every convolution, transposed convolution and matrix product
(element-wise work — BN, activations, SSIM's products — is not counted). ``macs`` = FLOPs / 2 is
what thop-style counters print as "FLOPs"; say which one a comparison uses.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def parameter_counts(module: nn.Module) -> dict:
    """``{"trainable", "frozen", "total"}`` parameter counts of ``module``."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.parameters())
    return {"trainable": trainable, "frozen": total - trainable, "total": total}


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` (see the module docstring)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def inference_cost(method, image_size: int = 256) -> dict:
    """Parameters of ``method`` and the FLOPs / MACs of ``predict`` on one image of ``image_size``²
    (in eval mode, on the method's device; the mode is restored)."""
    was_training = method.training
    method.eval()
    try:
        x = torch.zeros(1, 3, image_size, image_size, device=method.device)
        flops = count_flops(method.predict, {"image": x})
    finally:
        method.train(was_training)
    return {**parameter_counts(method), "image_size": int(image_size), "flops": flops, "macs": flops // 2}
