"""DM-GRD code mode: how far two Table 6 rows of one group drift apart during training (issue 18).

    python docs/results/dm_grd/rounding_divergence.py      # from the repo root; ~5 min on one CPU core

As coded, L_OT is ≈ 1e-10 and L_SE carries no gradient, so the spec expects Table 6 to collapse into
{KD, KD+OT, KD+SE} and {KD+Con, KD+OT+Con, full}. This trains pairs of rows from the same seed on the
synthetic weave (64 px, the quick profile's model: Lite0, L = 10, batch 8, the code's optimiser) for k
steps and records the relative distance of their trainable parameters, ‖θ_a − θ_b‖ / ‖θ_a‖:
- kd vs kd+se: the control, expected exactly 0 at every k (no gradient, no RNG draw);
- kd+con vs kd+ot+con: the code's L_OT adds a rounding-level gradient (and draws a permutation from the
  global RNG); also with a fixed permutation, to tell the RNG draw from the gradient.
Writes rounding_divergence.{json,md} beside this file.
"""
import torch

from adlib.data.catalog import open_dataset
from adlib.engine import fit
from adlib.methods import build
import adlib.methods.dm_grd.losses as L
from cells import provenance, write_record

STEPS = (1, 5, 8, 12, 20, 80)
BASE = dict(backbone="efficientnet_lite0", weights="auto", texture_source="procedural", memory_size=10, ot_diameter=0)


def trained(losses: str, steps: int, fixed_perm: bool = False):
    torch.manual_seed(0)
    m = build("dm_grd", **BASE, losses=losses)
    train = open_dataset("synthetic", "weave", "train", image_size=64, cache=True, normalize=m.input_spec)
    data = m.prepare_data(train, category="weave", seed=0)
    orig = L.ot_code
    if fixed_perm:  # the same term without touching the global RNG: the batch against its reversal
        L.ot_code = lambda feats, **kw: orig(feats, perm=torch.arange(feats[0].shape[0]).flip(0), **kw)
    try:
        fit(m, data.train, steps=steps, batch_size=8, seed=0, device="cpu", progress=False)
    finally:
        L.ot_code = orig
    return torch.cat([p.detach().flatten() for p in m.parameters() if p.requires_grad]), m.weights_info()


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    rows, weights = [], None
    for k in STEPS:
        kd, weights = trained("kd", k)
        con = trained("kd+con", k)[0]
        rows.append({"steps": k, "kd_vs_kd_se": rel(trained("kd+se", k)[0], kd),
                     "kdcon_vs_kdotcon": rel(trained("kd+ot+con", k)[0], con),
                     "kdcon_vs_kdotcon_fixed_perm": rel(trained("kd+ot+con", k, fixed_perm=True)[0], con)})
        print(rows[-1], flush=True)
    prov = provenance()
    commit = prov["commit"]
    rec = {"command": "python docs/results/dm_grd/rounding_divergence.py", "commit": commit,
           "data": "synthetic/weave (adlib-generated), train split, 64 px", "weights": weights,
           "model": {"method": "dm_grd", "mode": "code", **BASE}, "batch_size": 8, "seed": 0,
           "machine": prov["machine"], "rows": rows}
    lines = ["# DM-GRD code mode: two rows of one Table 6 group drift apart", "",
             f"`{rec['command']}` (commit `{(commit or '?')[:7]}`, CPU, {rec['data']}, teacher "
             f"{weights.get('name')} from `{weights.get('source')}`). Relative distance of the trainable parameters "
             "after k steps from the same seed:", "",
             "| steps | kd vs kd+se (control) | kd+con vs kd+ot+con | same, fixed permutation |", "|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['kd_vs_kd_se']:.1e} | {r['kdcon_vs_kdotcon']:.1e} | "
              f"{r['kdcon_vs_kdotcon_fixed_perm']:.1e} |" for r in rows]
    write_record("rounding_divergence", rec, lines)


if __name__ == "__main__":
    main()
