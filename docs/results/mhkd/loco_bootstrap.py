"""The LOCO image AUROC (logical / structural, each with every good image, and their mean) as a statistic of
``paired_bootstrap_groups``, from the per-image scores a results file keeps; shared by the scripts beside it."""
import numpy as np
from sklearn.metrics import roc_auc_score

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
