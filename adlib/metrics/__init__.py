"""Exact, protocol-aware anomaly-detection metrics (torch; CPU or GPU).

Every function returns a :class:`MetricResult` whose ``protocol`` records how it was computed.
"""

from .aupro import AUPRO_MODES, aupro, pro_curve
from .bootstrap import (Comparison, Interval, bootstrap_metric, compare_evaluations, image_auroc_draws, mean_interval,
                        paired_bootstrap, paired_bootstrap_groups, paired_bootstrap_records)
from .evaluate import evaluate, evaluate_loco, metrics_to_dict
from .protocol import MetricError, MetricResult
from .ranking import f1_max, image_auroc, pixel_ap, pixel_auroc
from .regions import label_regions, region_overlaps
from .spro import SPRO_FPR_LIMITS, spro, spro_curve

__all__ = [
    "AUPRO_MODES", "SPRO_FPR_LIMITS", "Comparison", "Interval", "MetricError", "MetricResult", "aupro",
    "bootstrap_metric", "compare_evaluations", "image_auroc_draws", "mean_interval", "paired_bootstrap",
    "paired_bootstrap_groups", "paired_bootstrap_records", "evaluate", "evaluate_loco",
    "f1_max", "image_auroc", "label_regions", "metrics_to_dict", "pixel_ap", "pixel_auroc", "pro_curve",
    "region_overlaps", "spro", "spro_curve",
]
