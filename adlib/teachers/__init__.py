"""Teachers that are not plain registry backbones: the PDN's distillation target and its offline recipe.

- :mod:`.patch_target`: the PatchCore-style descriptor a PDN regresses (EfficientAD ``pretraining.py``);
- :mod:`.extractor`: that descriptor served directly as a teacher (CPU profiles; never called a PDN);
- :mod:`.generic_images`: the offline image pool (packaged photos + dead leaves) and its views;
- :mod:`.distill`: the distillation recipe, its fidelity and the sha256-pinned cache.

The public PDN files themselves are registry entries (``pdn_small``, ``pdn_medium``: :mod:`adlib.backbones.pdn`).
"""

from .extractor import EXTRACTOR_PREFIX, ExtractorTeacher, extractor_name
from .patch_target import PatchTarget, adaptive_pool_matrix, naive_patch_target

__all__ = ["EXTRACTOR_PREFIX", "ExtractorTeacher", "PatchTarget", "adaptive_pool_matrix", "extractor_name",
           "naive_patch_target"]
