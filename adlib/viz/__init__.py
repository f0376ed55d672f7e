"""Figures as pure functions: numpy arrays or torch tensors in, a ``matplotlib.figure.Figure`` out.

The figures are not tracked by pyplot (nothing accumulates in batch runs; Jupyter still displays a
returned figure); :func:`save_figure` writes a PNG. Every heatmap states its normalisation and
colormap on the figure. The widgets in :mod:`adlib.widgets` render with these same functions.

=============================  ==============================================================
function                       figure
=============================  ==============================================================
overlay_heatmap                map over image, GT / prediction contours, ``norm`` written on it
plot_map                       a map alone (no image), same conventions
comparison_grid                rows = samples; input / GT / one column per method
sample_grid                    dataset samples with ground-truth contours
per_scale_maps                 RD per-level maps and their sum
gallery                        rows of chosen images (e.g. top-k, worst false positives)
threshold_figure               predicted vs GT mask at a threshold + per-region overlap bars
operating_point_figure         one threshold for the whole set: its point on the PRO curve + images
score_distributions(_grid)     normal vs anomalous score histograms + KDE (MRKD Fig. 6)
feature_pca_rgb / pca_figure   features → first 3 PCA components as RGB (MRKD Fig. 9)
roc_curve_figure               ROC per method, AUROC in the legend
pro_curve_figure               PRO per method, integrated area up to the FPR limit shaded
results_heatmap                category × method table as an annotated heatmap
paper_vs_ours                  a paper table's settings: the paper's value beside ours
synthesis_gallery              every synthesis strategy on one image: synthetic images + labels
=============================  ==============================================================

Helpers: ``global_range`` (one colour range for a set of maps), ``heatmap_rgba``,
``add_contours``, ``threshold_stats``, ``as_rgb`` / ``as_map`` / ``as_mask``.
"""

from ._common import (
    HEATMAP_CMAP,
    NORMS,
    AdlibFigure,
    figure_png,
    as_map,
    as_mask,
    as_rgb,
    close_figure,
    global_range,
    new_figure,
    norm_label,
    resolve_range,
    save_figure,
)
from .curves import area_up_to, pro_curve_figure, roc_curve_figure
from .distributions import score_distributions, score_distributions_grid
from .features import feature_pca_rgb, pca_figure
from .grids import GRID_NORMS, comparison_grid, gallery, per_scale_maps, sample_grid, upsample_map
from .overlay import GT_COLOR, PRED_COLOR, add_colorbar, add_contours, heatmap_rgba, overlay_heatmap, plot_map
from .tables import paper_vs_ours, points, results_heatmap, table_arrays
from .operating_point import OperatingPoints, operating_point_figure
from .synthesis import synthesis_gallery
from .thresholds import threshold_figure, threshold_stats

__all__ = [
    "AdlibFigure",
    "HEATMAP_CMAP",
    "OperatingPoints",
    "GRID_NORMS",
    "GT_COLOR",
    "NORMS",
    "PRED_COLOR",
    "add_colorbar",
    "add_contours",
    "area_up_to",
    "as_map",
    "as_mask",
    "as_rgb",
    "close_figure",
    "comparison_grid",
    "sample_grid",
    "feature_pca_rgb",
    "figure_png",
    "gallery",
    "global_range",
    "heatmap_rgba",
    "new_figure",
    "norm_label",
    "overlay_heatmap",
    "pca_figure",
    "per_scale_maps",
    "plot_map",
    "pro_curve_figure",
    "resolve_range",
    "operating_point_figure",
    "paper_vs_ours",
    "points",
    "results_heatmap",
    "roc_curve_figure",
    "save_figure",
    "score_distributions",
    "score_distributions_grid",
    "synthesis_gallery",
    "table_arrays",
    "threshold_figure",
    "threshold_stats",
    "upsample_map",
]
