"""Model complexity: parameter counts and FLOPs, measured (for the papers' complexity tables, DM-GRD Table 5).

- :func:`count_parameters`: the number of parameters of a module (all, or only trainable ones);
- :func:`count_flops`: floating-point operations of one call, counted by PyTorch's
  ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add = 2 FLOPs; convolutions and matrix
  products, the operations that dominate these networks; element-wise ops are not counted).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``module`` (each shared tensor once); ``trainable_only``: those with ``requires_grad``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_flops(fn: Callable, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` (a module or any callable), by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())
