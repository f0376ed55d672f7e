"""DM-GRD's dual memory: the normal and abnormal banks, item selection and the memory information MI
(Tran et al., ACCV 2024, §4.2, Fig. 3, Eq. 6; spec dm_grd.md §1.3).

A bank holds L training images' teacher maps per level, M_u,k (L×C_k×H_k×W_k), and their spatial
means M_k (L×C_k). For a query F (the teacher's features of the fed image) a bank selects one item
j(b) per image and gives MI_k = [F_k ; (M_u,k[j] − F_k)²] (2·C_k channels, Eq. 6: DI is the
element-wise squared difference, not summed). Two selection rules:

- ``"code"`` (what the authors' code computes): w = softmax over items of cos(M_k[l], F_k(h, w));
  F̃_k = Σ_l w·M_k[l]; the k = L//3 largest *channel values* of F̃_k, averaged over positions, per
  level; D = their concatenation (B×3k) and j = argmin D — an index into D used as an item id.
  Each block of D is sorted, so only items k−1, 2k−1, 3k−1 are reachable, and with near-uniform
  w the same item is chosen for every image.
- ``"nearest"`` (§4.2 as described: "D ∈ R^{B×L}", SF_u = argmin D): D[b, l] = Σ_k mean over
  positions of 1 − cos(F_k(h, w), M_k[l]); j = the most similar item (our reading).

Banks are buffers saved with the checkpoint (``trainable=True``: parameters, the paper's
"updatable memory", optimised with the rest), resized to a checkpoint's shapes when loaded.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

SELECTIONS = ("code", "nearest")


class MemoryBank(nn.Module):
    """L items per level: ``maps[k]`` = M_u,k (L×C_k×H_k×W_k), ``pooled()[k]`` = M_k (L×C_k), and
    ``indices``: which training images the items are (empty until :meth:`fill`)."""

    def __init__(self, n_levels: int, trainable: bool = False):
        super().__init__()
        self.n_levels, self.trainable = int(n_levels), bool(trainable)
        for k in range(self.n_levels):
            self._put(k, torch.empty(0))
        self.register_buffer("indices", torch.empty(0, dtype=torch.long))

    def _put(self, k: int, value: torch.Tensor) -> None:
        name = f"maps{k}"
        if self.trainable:
            setattr(self, name, nn.Parameter(value))
        elif name in self._buffers:
            self._buffers[name] = value
        else:
            self.register_buffer(name, value)

    @property
    def maps(self) -> list[torch.Tensor]:
        return [getattr(self, f"maps{k}") for k in range(self.n_levels)]

    def __len__(self) -> int:
        m = self.maps[0]
        return int(m.shape[0]) if m.ndim == 4 else 0

    @torch.no_grad()
    def fill(self, feats: list[torch.Tensor], indices) -> None:
        """Store the teacher's maps of L images (``feats``: one L×C_k×H_k×W_k tensor per level)."""
        if len(feats) != self.n_levels:
            raise ValueError(f"{len(feats)} levels given, the bank has {self.n_levels}")
        for k, f in enumerate(feats):
            self._put(k, f.detach().float().clone().contiguous())
        self.indices = torch.as_tensor(indices, dtype=torch.long, device=feats[0].device).clone()

    def channels(self) -> list[int]:
        return [int(m.shape[1]) for m in self.maps]

    def pooled(self) -> list[torch.Tensor]:
        """M_k: each item's spatial mean (recomputed, so trainable items keep M_k in step)."""
        return [m.mean(dim=(2, 3)) for m in self.maps]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the bank's size is the data's (L, resolution): take the checkpoint's shapes before loading; equal
        # shapes load in place (trainable items stay the parameters an optimizer holds, e.g. when resuming)
        for k in range(self.n_levels):
            key = f"{prefix}maps{k}"
            if key in state_dict and state_dict[key].shape != self.maps[k].shape:
                self._put(k, torch.empty_like(state_dict[key], device=self.maps[k].device))
        key = f"{prefix}indices"
        if key in state_dict and state_dict[key].shape != self.indices.shape:
            self.indices = torch.empty_like(state_dict[key], device=self.indices.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def topk_size(memory_size: int, channels) -> int:
    """k = L//3 of the code's selection, clamped to the smallest level's channels (the code crashes
    when k > C_k, e.g. EfficientNet-Lite0's 24 channels at L ≥ 75) and to at least 1."""
    k = max(1, int(memory_size) // 3)
    c = min(int(x) for x in channels)
    if k > c:
        warnings.warn(f"DM-GRD selection: k = L//3 = {k} > {c} channels; using k = {c}", stacklevel=2)
        k = c
    return k


def code_difference(query: list[torch.Tensor], pooled: list[torch.Tensor], k: int) -> torch.Tensor:
    """D (B×K·k) as the code computes it: per level the k largest channel values of the
    softmax(cos)-weighted memory F̃_k, averaged over positions (sorted, descending), concatenated."""
    blocks = []
    for f, m in zip(query, pooled):
        q = F.normalize(f.float().flatten(2), dim=1)  # B×C×HW
        w = torch.einsum("lc,bcp->blp", F.normalize(m.float(), dim=1), q).softmax(dim=1)  # B×L×HW
        agg = torch.einsum("blp,lc->bcp", w, m.float())  # F̃_k: B×C×HW
        blocks.append(agg.topk(k, dim=1).values.mean(dim=2))
    return torch.cat(blocks, dim=1)


def nearest_difference(query: list[torch.Tensor], pooled: list[torch.Tensor]) -> torch.Tensor:
    """D (B×L) as §4.2 describes it: Σ_k mean over positions of 1 − cos(F_k(h, w), M_k[l])."""
    total = 0
    for f, m in zip(query, pooled):
        q = F.normalize(f.float().flatten(2), dim=1)
        cos = torch.einsum("lc,bcp->blp", F.normalize(m.float(), dim=1), q)
        total = total + (1 - cos).mean(dim=2)
    return total


def memory_information(query: list[torch.Tensor], maps: list[torch.Tensor], items: torch.Tensor) -> list[torch.Tensor]:
    """MI_k = [F_k ; DI_k], DI_k = (M_u,k[j(b)] − F_k)² element-wise (Eq. 6; B×2C_k×H_k×W_k)."""
    out = []
    for f, m in zip(query, maps):
        if tuple(m.shape[-2:]) != tuple(f.shape[-2:]):
            raise ValueError(f"memory maps are {tuple(m.shape[-2:])} but the query is {tuple(f.shape[-2:])}: "
                             "build the memory at the image size the model is trained and tested at")
        sel = m.index_select(0, items).to(f.dtype)
        out.append(torch.cat([f, (sel - f) ** 2], dim=1))
    return out


def select(bank: MemoryBank, query: list[torch.Tensor], rule: str = "code", k: int | None = None):
    """One bank's selection: ``(items j (B,), D, MI)``; ``rule`` ``"code"`` (``k``: default
    :func:`topk_size` of the bank) or ``"nearest"``. D and j carry no gradient; MI does (into
    trainable items through DI)."""
    if len(bank) == 0:
        raise RuntimeError("dm_grd: the memory banks are empty: fit the method (its on_fit_start builds them), "
                           "call build_memory(train_data), or load a checkpoint (it holds them)")
    with torch.no_grad():
        pooled = [p.detach() for p in bank.pooled()]
        if rule == "code":
            diff = code_difference(query, pooled, k if k is not None else topk_size(len(bank), bank.channels()))
        elif rule == "nearest":
            diff = nearest_difference(query, pooled)
        else:
            raise ValueError(f"memory selection must be one of {SELECTIONS}, got {rule!r}")
        items = diff.argmin(dim=1)
    return items, diff, memory_information(query, bank.maps, items)


class DualMemory(nn.Module):
    """The normal bank (clean training images) and the abnormal bank (their synthetic versions)."""

    def __init__(self, n_levels: int, trainable: bool = False):
        super().__init__()
        self.normal = MemoryBank(n_levels, trainable)
        self.abnormal = MemoryBank(n_levels, trainable)

    def __len__(self) -> int:
        return len(self.normal)
