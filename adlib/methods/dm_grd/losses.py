"""DM-GRD's extra loss terms L_OT, L_Con and L_SE (Tran et al., ACCV 2024, §4.4, Eqs. 8–11; spec
dm_grd.md §2), each as the authors' code computes it (``"code"``) and as the paper describes it
(``"paper"``). L_KD is RD's flattened cosine loss (:func:`adlib.methods.rd.rd_loss`, Eq. 1).

==========  ========================================================  =============================================
term        ``"code"`` (faithful: quirks kept)                        ``"paper"`` (as described)
==========  ========================================================  =============================================
L_OT        Σ_k S(X_k, X_k[π]): X_k = softmax of each sample's         Eq. 9: per-sample point clouds σ(f_k) pooled
            flattened map, one *point* per sample (B points in D       to ≤ P×P positions, pairs (b, b+1 mod B),
            dims), π = randperm(B) → ≈ 1e-10, no useful gradient       mean over pairs and levels (1/m · 1/K)
L_Con       Σ_k mean_b max(0, cos(vec f^a_k, vec f^n_k) − θ)           Eq. 10: the same, averaged over levels (1/K)
L_SE        triplet on 3 gathered channels of memory *items 0…B−1*     Eq. 11 repaired: per level, the query's pooled
            (torch.gather semantics), no graph → constant               features vs the selected normal / abnormal
                                                                        items, squared-distance hinge, η = 1
==========  ========================================================  =============================================

S is geomloss's Sinkhorn divergence (``p = 2``, ``blur`` ε^{1/p}, ``scaling``, ``reach`` ρ: None =
balanced, as coded; the paper says "unbalanced" without a ρ). geomloss is imported here only.
All terms are computed in float32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("code", "paper")
REDUCTIONS = ("sum", "mean")


def sinkhorn(x: torch.Tensor, y: torch.Tensor, blur: float = 0.05, scaling: float = 0.95, reach: float | None = None,
             diameter: float | None = None) -> torch.Tensor:
    """S(x, y): geomloss ``SamplesLoss("sinkhorn", p=2, ...)`` with the code's ``truncate=10`` and
    ``debias=True``. ``diameter=None``: the points' bounding-box diagonal (geomloss's own estimate),
    at least ``blur`` — geomloss's estimate fails when every point is the same (diameter 0)."""
    from geomloss import SamplesLoss

    if diameter is None:
        pts = torch.cat([x.detach().flatten(0, -2), y.detach().flatten(0, -2)])
        diameter = max(float((pts.amax(0) - pts.amin(0)).norm()), blur)
    loss = SamplesLoss("sinkhorn", p=2, blur=blur, reach=reach, diameter=diameter, scaling=scaling, truncate=10,
                       debias=True)
    return loss(x, y)


def ot_code(feats: list[torch.Tensor], blur: float = 0.05, scaling: float = 0.95, reach: float | None = None,
            diameter: float | None = 1e7, perm: torch.Tensor | None = None) -> torch.Tensor:
    """L_OT as coded (RD++'s SSOT): Σ_k S(X_k, X_k[π]) with X_k = row-wise softmax of the B×D flattened
    maps. geomloss reads a B×D tensor as B points in D dimensions, so this compares a point set with a
    permutation of itself: ≈ 0 whatever the features. ``perm``: π (default ``torch.randperm(B)``)."""
    b = feats[0].shape[0]
    perm = torch.randperm(b) if perm is None else perm
    total = feats[0].new_zeros((), dtype=torch.float32)
    for f in feats:
        x = torch.softmax(f.float().flatten(1), dim=-1)
        total = total + sinkhorn(x, x[perm.to(x.device)].contiguous(), blur, scaling, reach, diameter)
    return total


def point_clouds(f: torch.Tensor, pool: int) -> torch.Tensor:
    """B×N×C: σ(f) at ≤ pool×pool positions (adaptive average pooling), one point per position."""
    h, w = f.shape[-2:]
    f = F.adaptive_avg_pool2d(f.float(), (min(pool, h), min(pool, w))) if pool and (h > pool or w > pool) else f.float()
    return torch.sigmoid(f).flatten(2).transpose(1, 2).contiguous()


def ot_paper(feats: list[torch.Tensor], pool: int = 16, blur: float = 0.05, scaling: float = 0.95,
             reach: float | None = None, diameter: float | None = None) -> torch.Tensor:
    """Eq. 9: mean over pairs (b, b+1 mod B) and levels of S(σ(f_k[b]), σ(f_k[b+1])), each image a
    cloud of positions with uniform weights (one batched geomloss call per level)."""
    total = feats[0].new_zeros((), dtype=torch.float32)
    for f in feats:
        x = point_clouds(f, pool)
        total = total + sinkhorn(x, x.roll(-1, dims=0), blur, scaling, reach, diameter).mean()
    return total / len(feats)


def con_loss(abnormal: list[torch.Tensor], normal: list[torch.Tensor], margin: float = 0.5,
             reduce: str = "sum") -> torch.Tensor:
    """Eq. 10: max(0, cos(vec f^a_k, vec f^n_k) − θ) averaged over the batch, summed (code:
    ``CosineEmbeddingLoss(margin)`` with target −1 per level) or averaged (``"mean"``, 1/K) over levels."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"con_reduce must be one of {REDUCTIONS}, got {reduce!r}")
    terms = [F.relu(F.cosine_similarity(a.float().flatten(1), n.float().flatten(1), dim=1) - margin).mean()
             for a, n in zip(abnormal, normal)]
    total = torch.stack(terms).sum()
    return total / len(terms) if reduce == "mean" else total


def _gather_items(maps: torch.Tensor, channel_ids: torch.Tensor) -> torch.Tensor:
    """``torch.gather(maps, 1, ids)`` averaged over positions, as coded: row b is memory **item b**,
    at the channels ``ids[b]`` (ids ≥ C wrap around: the code would raise)."""
    n = channel_ids.shape[0]
    ids = (channel_ids % maps.shape[1])[:, :, None, None].expand(-1, -1, *maps.shape[-2:])
    return torch.gather(maps[:n], 1, ids).mean(dim=(2, 3))


@torch.no_grad()
def se_code(normal_maps: list[torch.Tensor], normal_diff: torch.Tensor, abnormal_maps: list[torch.Tensor],
            abnormal_diff: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """L_SE as coded: per level, TripletMarginLoss(margin) on L2-normalised 3-vectors — anchor = normal
    items' channels at top3(D^n), positive = abnormal items' at top3(D^n), negative = abnormal items' at
    top3(D^a) (:func:`_gather_items`). The memories carry no gradient, so neither does this term. The
    code needs B ≤ L; here the first min(B, L) samples are used (value only)."""
    n = min(normal_diff.shape[0], normal_maps[0].shape[0])
    idx_n = normal_diff[:n].topk(3, dim=1).indices
    idx_a = abnormal_diff[:n].topk(3, dim=1).indices
    total = normal_diff.new_zeros((), dtype=torch.float32)
    for mn, ma in zip(normal_maps, abnormal_maps):
        anchor, positive = _gather_items(mn.float(), idx_n), _gather_items(ma.float(), idx_n)
        negative = _gather_items(ma.float(), idx_a)
        total = total + F.triplet_margin_loss(F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1),
                                              F.normalize(negative, dim=-1), margin=margin)
    return total


def se_paper(query: list[torch.Tensor], normal_maps: list[torch.Tensor], normal_items: torch.Tensor,
             abnormal_maps: list[torch.Tensor], abnormal_items: torch.Tensor, synthetic: torch.Tensor | None = None,
             margin: float = 1.0) -> torch.Tensor:
    """Eq. 11, repaired (as printed its positive and negative are the same term): per level, with
    L2-normalised pooled vectors q = F_k[b] (the query, no gradient), p = M^n_u,k[j_n(b)],
    n = M^a_u,k[j_a(b)] (p and n swapped for synthetic queries), mean_b max(0, ‖q−p‖² − ‖q−n‖² + η),
    summed over levels. Gradient reaches trainable memories only."""
    total = query[0].new_zeros((), dtype=torch.float32)
    for f, mn, ma in zip(query, normal_maps, abnormal_maps):
        q = F.normalize(f.detach().float().mean(dim=(2, 3)), dim=-1)
        p = F.normalize(mn.float().index_select(0, normal_items).mean(dim=(2, 3)), dim=-1)
        n = F.normalize(ma.float().index_select(0, abnormal_items).mean(dim=(2, 3)), dim=-1)
        if synthetic is not None:
            s = synthetic.to(q.device).bool()[:, None]
            p, n = torch.where(s, n, p), torch.where(s, p, n)
        total = total + F.relu((q - p).pow(2).sum(-1) - (q - n).pow(2).sum(-1) + margin).mean()
    return total
