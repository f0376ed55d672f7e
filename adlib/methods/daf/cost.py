"""DAF's cost (Table II: 4.4 M parameters, 6.8 GFLOPs at 256²) and that of its ablations (Table V),
measured on the built model: trainable parameters per part and the FLOPs of one inference."""

from __future__ import annotations

from ..common import inference_cost, parameter_counts

PARTS = ("student", "seg_student", "smooth", "seg_head", "aux_heads")


def model_cost(model, image_size: int = 256) -> dict:
    """``{"trainable", "frozen", "total", "flops", "macs", "image_size", "parts": {part: trainable},
    "inference_trainable"}`` of a built :class:`~adlib.methods.daf.DAF` (the auxiliary heads are
    dropped at inference: ``inference_trainable`` leaves them out)."""
    out = inference_cost(model, image_size)
    parts = {name: parameter_counts(getattr(model, name))["trainable"] for name in PARTS
             if getattr(model, name, None) is not None}
    out["parts"] = parts
    out["inference_trainable"] = out["trainable"] - parts.get("aux_heads", 0)
    return out


def ablation_costs(image_size: int = 256, ablations=("ts_only", "seg_only", "no_aux", "none"), **config) -> dict:
    """``{ablation: model_cost}`` of DAF built with random weights (Table V's rows; ``config``: other settings,
    e.g. ``backbone="efficientnet_lite0"``)."""
    from adlib.methods import build

    return {a: model_cost(build("daf", **{"weights": "random", **config, "ablation": a}), image_size)
            for a in ablations}
