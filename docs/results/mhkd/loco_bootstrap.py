"""The LOCO image AUROC (logical / structural, each with every good image, and their mean) as a statistic of
``paired_bootstrap_groups``, from the per-image scores a results file keeps, and the tray runs' loader and values;
shared by the scripts beside it."""
import glob
import json

import numpy as np
from sklearn.metrics import roc_auc_score

from adlib.metrics.bootstrap import paired_bootstrap_groups

KINDS = ("good", "logical", "structural")


def kind_groups(ids: list[str]) -> dict[str, np.ndarray]:
    """``{good / logical / structural: image indices}`` from the test image ids (the kind is in the path)."""
    kind = np.array([("logical" if "logical" in i else "structural" if "structural" in i else "good") for i in ids])
    return {k: np.where(kind == k)[0] for k in KINDS}


def loco_auroc(image_scores: dict, ids: list[str]):
    """``f(groups) -> {logical, structural, mean}`` on one run's stored image scores; ValueError unless its images
    are ``ids``, in order (paired comparisons need the same test images)."""
    if image_scores["ids"] != ids:
        raise ValueError("the runs scored different test images (or in another order): not a paired comparison")
    s = np.asarray(image_scores["scores"])

    def stat(g):
        out = {}
        for k in ("logical", "structural"):
            idx = np.concatenate([g["good"], g[k]])
            out[k] = roc_auc_score(np.r_[np.zeros(len(g["good"])), np.ones(len(g[k]))], s[idx])
        out["mean"] = (out["logical"] + out["structural"]) / 2
        return out
    return stat


def extractor_teacher(config: dict) -> bool:
    """Whether a tray run is one of Tables I / IV's (mhkd_small: the Lite0 extractor as teacher); the offline-teacher
    study's runs (``mhkd/teacher``: a PDN-S teacher, ``pdn_offline.py``) share the folder and are left out."""
    return str(config.get("teacher", "")).startswith("extractor:")


def table4_ablation(config: dict) -> bool:
    """Whether an MHKD tray run is one of Table IV's ablations (self-distillation off or a single-conv SEncoder2)."""
    return config.get("self_distill", True) is not True or config.get("sencoder2", "two") != "two"


def tray_runs(runs_root: str = "docs/results/mhkd/runs", pattern: str = "*") -> list[dict]:
    """Every results file of the tray (``<runs_root>/mhkd/synthetic/tray/<pattern>/seed*``), in path order."""
    return [json.load(open(p)) for p in sorted(glob.glob(f"{runs_root}/mhkd/synthetic/tray/{pattern}/seed*/results.json"))]


def loco_values(r: dict) -> dict[str, float]:
    """A tray run's LOCO image AUROC and sPRO@0.05 (mean / logical / structural), in %."""
    a, sp = r["metrics"]["loco_image_auroc"]["value"], r["metrics"]["spro"]["value"]
    return {f"image_auroc_{k}": 100 * a[k] for k in ("mean", "logical", "structural")} | {
        f"spro_0.05_{k}": 100 * sp[k]["0.05"] for k in ("mean", "logical", "structural")}


def paired_loco(a: dict, b: dict) -> dict[str, dict[str, float]]:
    """Run A vs run B in LOCO image AUROC (mean / logical / structural), in %: ``{a, b, gap, low, high}`` with the
    95 % interval of A − B from a paired bootstrap over the test images (2 000 resamples within each kind, seed 0)."""
    sa, sb = a["extra"]["image_scores"], b["extra"]["image_scores"]
    ids = sa["ids"]
    res = paired_bootstrap_groups(loco_auroc(sa, ids), loco_auroc(sb, ids), kind_groups(ids), n_boot=2000, seed=0)
    out = {}
    for k in ("mean", "logical", "structural"):
        c = res[k]
        out[k] = {"a": 100 * c.a, "b": 100 * c.b, "gap": 100 * (c.a - c.b), "low": 100 * c.low, "high": 100 * c.high}
    return out


def format_gap(g: dict[str, float]) -> str:
    """``"+1.2 [-0.3, +2.8]"``: a gap of :func:`paired_loco` with its interval."""
    return f"{g['gap']:+.1f} [{g['low']:+.1f}, {g['high']:+.1f}]"
