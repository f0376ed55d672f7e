#!/usr/bin/env python
"""Throughput of NSA synthesis (adlib.synthesis.nsa) on one CPU core — what one DataLoader worker delivers.

    python benchmarks/nsa_speed.py [--size 256] [--n 200] [--out docs/results]

Images: MTD (prepared from ../shared/datasets/mtd_raw when present) else the synthetic ``weave``
texture, resized to size². Presets: MRKD's code (swap, same image) for a texture-like category
("mtd", also used for MTD/BTAD), for ``bottle`` (foreground mask, 3 patches) and ``toothbrush``
(6×6 patches), and the NSA paper's Poisson variants (mixed clone for textures, normal clone with a
foreground for objects). Writes ``nsa_speed_cpu_<size>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adlib.engine.env import environment_report  # noqa: E402
from adlib.synthesis import mrkd_nsa_config, nsa_paper_config, nsa_patch  # noqa: E402


def images(size: int, n: int):
    from adlib.data.catalog import open_dataset
    from adlib.paths import shared_mtd_raw

    name = ("mtd", "mtd") if shared_mtd_raw() is not None else ("synthetic", "weave")
    ds = open_dataset(*name, "train", image_size=size)
    k = min(n, len(ds))
    return [ds.load_raw(i)[0].permute(1, 2, 0).numpy().copy() for i in range(k)], "/".join(name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--n", type=int, default=200, help="images per preset")
    ap.add_argument("--out", default="docs/results")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    imgs, data = images(a.size, a.n)
    presets = {
        "mrkd code, texture style (MTD/BTAD)": mrkd_nsa_config("mtd"),
        "mrkd code, bottle (foreground)": mrkd_nsa_config("bottle"),
        "mrkd code, toothbrush": mrkd_nsa_config("toothbrush"),
        "nsa paper, mixed clone (texture)": nsa_paper_config("carpet"),
        "nsa paper, normal clone (bottle, foreground)": nsa_paper_config("bottle"),
    }
    rows = []
    for name, cfg in presets.items():
        rng = np.random.default_rng(0)
        labelled = 0
        t0 = time.perf_counter()
        for i, img in enumerate(imgs):
            src = imgs[(i + 1) % len(imgs)]
            labelled += int(nsa_patch(img, src, cfg, rng).label.sum() > 0)
        dt = time.perf_counter() - t0
        rows.append({"preset": name, "mode": cfg.mode, "images": len(imgs), "seconds": round(dt, 3),
                     "images_per_s": round(len(imgs) / dt, 1), "fraction_with_label": round(labelled / len(imgs), 3)})
        print(f"{name:45s} {rows[-1]['images_per_s']:8.1f} img/s  (labelled {labelled}/{len(imgs)})")
    env = environment_report("cpu")
    doc = {"benchmark": "nsa_speed", "size": a.size, "data": data, "threads": 1, "rows": rows, "env": env,
           "load": os.getloadavg(), "machine": platform.processor() or platform.machine()}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"nsa_speed_cpu_{a.size}.json").write_text(json.dumps(doc, indent=1))
    lines = [f"# NSA synthesis throughput, {a.size}×{a.size}, one CPU thread", "",
             f"Data: {data} ({len(imgs)} training images). Machine: {env.get('cpu_count')} cores, "
             f"{env.get('platform')}; load average at the end {tuple(round(x, 2) for x in doc['load'])}.", "",
             "| preset | mode | images/s | images with a label |", "|---|---|---|---|"]
    lines += [f"| {r['preset']} | {r['mode']} | {r['images_per_s']} | {r['fraction_with_label']:.0%} |" for r in rows]
    (out / f"nsa_speed_cpu_{a.size}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
