"""DM-GRD (Tran et al., ACCV 2024) as RD's diff: dual memory + MSFF as the bottleneck input, the fed image
as the KD target, three extra losses. ``build("dm_grd", mode="code" | "paper", ...)``."""

from .memory import DualMemory, MemoryBank, code_difference, memory_information, nearest_difference, select, topk_size
from .model import DMGRD, PRESETS, MODES, DMGRDConfig, loss_terms, warmup_cosine
from .msff import MSFF, MSFFBlock, NonLocal, SpatialAttention

__all__ = ["DMGRD", "DMGRDConfig", "DualMemory", "MODES", "MSFF", "MSFFBlock", "MemoryBank", "NonLocal", "PRESETS",
           "SpatialAttention", "code_difference", "loss_terms", "memory_information", "nearest_difference",
           "select", "topk_size", "warmup_cosine"]
