#!/usr/bin/env python
"""Training and inference throughput of Reverse Distillation (images/s), data held in memory.

    python benchmarks/rd_speed.py --backbone wide_resnet50_2 --size 256 --batch 16 [--device cuda]

Times ``training_step`` + backward + Adam step, and batched ``predict`` (maps + scores), after
warm-up, on random input already on the device (so no decoding or transfer is counted).
Teacher weights do not change the speed; ``--weights random`` is allowed here and recorded.
Writes ``docs/results/rd_speed_<device>_<backbone>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch


def bench(fn, steps: int, sync) -> float:
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="wide_resnet50_2")
    p.add_argument("--weights", default="random")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--infer-batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", choices=["auto", "off", "bf16"], default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the teacher, bottleneck and decoder")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "results"))
    a = p.parse_args(argv)

    from adlib.methods import build

    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    amp = (a.amp == "bf16") or (a.amp == "auto" and cuda)
    torch.manual_seed(0)
    model = build("rd", backbone=a.backbone, weights=a.weights).to(dev)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = model.configure_optimizer()
    if a.compile:
        for name in ("teacher", "bottleneck", "decoder"):
            if hasattr(model, name):
                setattr(model, name, torch.compile(getattr(model, name)))
    x = torch.randn(a.batch, 3, a.size, a.size, device=dev)
    xi = torch.randn(a.infer_batch, 3, a.size, a.size, device=dev)
    if cuda:
        x, xi = x.contiguous(memory_format=torch.channels_last), xi.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def train_step():
        model.train()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = model.training_step({"image": x})["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step():
        model.eval()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            model.predict({"image": xi})

    bench(train_step, a.warmup, sync)
    t_train = bench(train_step, a.steps, sync)
    bench(infer_step, a.warmup, sync)
    t_inf = bench(infer_step, a.steps, sync)

    @torch.no_grad()
    def teacher_step():  # the floor under inference: the frozen teacher alone
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            model.teacher_features(xi)

    bench(teacher_step, a.warmup, sync)
    t_teacher = bench(teacher_step, a.steps, sync)
    rec = {
        "benchmark": "RD training step (forward+backward+Adam) and batched inference (maps+scores)",
        "backbone": a.backbone, "weights": model.weights_info(), "image_size": a.size,
        "train_batch": a.batch, "infer_batch": a.infer_batch, "steps": a.steps, "amp_bf16": amp,
        "channels_last": cuda, "device": str(dev), "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "platform": platform.platform(),
        "train_images_per_s": round(a.batch * a.steps / t_train, 2),
        "infer_images_per_s": round(a.infer_batch * a.steps / t_inf, 2),
        "teacher_forward_images_per_s": round(a.infer_batch * a.steps / t_teacher, 2),
        "compiled": a.compile,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = (f"rd_speed_{'gpu' if cuda else 'cpu'}_{a.backbone}_{a.size}"
           + ("" if amp or not cuda else "_fp32") + ("_compiled" if a.compile else ""))
    (out / f"{tag}.json").write_text(json.dumps(rec, indent=1))
    (out / f"{tag}.md").write_text(
        f"# RD throughput — {a.backbone} teacher, {a.size}², {rec['device']}"
        + (f" ({rec['gpu']})" if rec["gpu"] else f" ({rec['cpu_count']} CPU cores)") + "\n\n"
        "| what | batch | images/s |\n|---|---|---|\n"
        f"| training (fwd+bwd+Adam) | {a.batch} | {rec['train_images_per_s']} |\n"
        f"| inference (maps+scores) | {a.infer_batch} | {rec['infer_images_per_s']} |\n"
        f"| teacher forward alone | {a.infer_batch} | {rec['teacher_forward_images_per_s']} |\n\n"
        f"bf16 autocast: {amp}; channels_last: {cuda}; torch.compile: {a.compile}; {a.steps} timed steps after {a.warmup} warm-up; "
        f"teacher weights: {rec['weights'].get('source')} (speed does not depend on their values); "
        "random input already on the device. Command: `python benchmarks/rd_speed.py "
        + " ".join(argv if argv is not None else sys.argv[1:]) + "`\n")
    print(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
