"""Which devices cells run on: the visible GPUs, and the environment that pins a process to one."""

from __future__ import annotations

import os


def device_env(device) -> dict:
    """Environment for a job on ``device``: a GPU id, ``"cpu"`` (GPUs hidden) or None (untouched)."""
    if device is None:
        return {}
    return {"CUDA_VISIBLE_DEVICES": "" if str(device) == "cpu" else str(device)}


def resolve_devices(devices="auto") -> list:
    """``"auto"``: every visible GPU (ids from ``$CUDA_VISIBLE_DEVICES`` when set), else ``["cpu"]``;
    ``"cpu"``; an int (that many GPUs); or a list of GPU ids."""
    if devices == "auto":
        vis = os.environ.get("CUDA_VISIBLE_DEVICES")
        if vis is not None:
            ids = [d.strip() for d in vis.split(",") if d.strip() and d.strip() != "-1"]
            return ids or ["cpu"]
        try:
            import torch

            n = torch.cuda.device_count()
        except Exception:  # noqa: BLE001
            n = 0
        return list(range(n)) or ["cpu"]
    if devices in (None, "cpu") or devices == []:
        return ["cpu"]
    if isinstance(devices, int):
        return list(range(devices))
    return list(devices)
