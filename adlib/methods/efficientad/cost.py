"""Table V of MHKD: parameters and FLOPs of EfficientAD-M and MHKD, measured on the built models.

Counted by :func:`adlib.methods.common.inference_cost` (``predict`` on one zero image,
``torch.utils.flop_counter``: 2 FLOPs per multiply-add of every convolution and matrix product) with
random weights (counts do not depend on them) and neutral normalisation (μ = 0, σ = 1, q = 0 / 1: the
maps are then meaningless, the work is the same). ``python -m adlib.methods.efficientad.cost``
prints the table (MHKD's Table V: 35 M / 234 G; EfficientAD 21 M / 235 G).
"""

from __future__ import annotations

import time

import torch

from ..common import inference_cost, parameter_counts

__all__ = ["PARTS", "model_cost", "table5_costs"]

PARTS = {"efficientad": ("teacher", "student", "autoencoder"),
         "mhkd": ("teacher", "student.sencoder1", "student.sencoder2", "student.ldecoder", "student.gdecoder")}


def _neutral(model) -> None:
    with torch.no_grad():
        model.teacher_mean.zero_()
        model.teacher_std.fill_(1.0)
        for n in model.normalizers.values():
            n.q_a.fill_(0.0)
            n.q_b.fill_(1.0)


def model_cost(name: str, image_size: int = 256, latency_runs: int = 0, **config) -> dict:
    """``inference_cost`` of method ``name`` (random teacher unless ``weights`` is given) with ``parts``
    (parameters per block), ``params_m``, ``gflops`` and, with ``latency_runs``, the mean CPU/GPU
    ``latency_ms`` of ``predict`` on one image after one warm-up."""
    from adlib.methods import build

    model = build(name, **{"weights": "random", "image_size": image_size, **config}).eval()
    _neutral(model)
    out = inference_cost(model, image_size)
    out["parts"] = {p: parameter_counts(model.get_submodule(p))["total"] for p in PARTS.get(name, ())}
    out["params_m"], out["gflops"] = out["total"] / 1e6, out["flops"] / 1e9
    if latency_runs:
        x = {"image": torch.zeros(1, 3, image_size, image_size, device=model.device)}
        model.predict(x)
        t0 = time.perf_counter()
        for _ in range(latency_runs):
            model.predict(x)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        out["latency_ms"] = 1000 * (time.perf_counter() - t0) / latency_runs
    return out


def table5_costs(image_size: int = 256, latency_runs: int = 0) -> dict:
    """``{"efficientad": cost, "mhkd": cost}`` (EfficientAD-M: the PDN-M teacher and student)."""
    return {name: model_cost(name, image_size, latency_runs) for name in ("efficientad", "mhkd")}


def main() -> int:
    torch.set_grad_enabled(False)
    rows = table5_costs()
    paper = {"efficientad": (21, 235), "mhkd": (35, 234)}
    print("| method | paper params (M) | params (M) | paper GFLOPs | GFLOPs | parts (M) |")
    print("|---|---|---|---|---|---|")
    for name, c in rows.items():
        parts = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in c["parts"].items())
        print(f"| {name} | {paper[name][0]} | {c['params_m']:.2f} | {paper[name][1]} | {c['gflops']:.1f} | {parts} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
