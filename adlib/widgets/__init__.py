"""Interactive diagnosis widgets (ipywidgets) drawn with the :mod:`adlib.viz` figure functions.

=====================  ===============================================================
function               view
=====================  ===============================================================
browse_by_score        test images sorted by score; worst false positives / missed
threshold_explorer     threshold slider → predicted vs GT mask, per-region overlap, FPR;
                       per-scale maps to choose from (``per_scale=``)
compare_methods        two methods side by side with one shared colour range
pro_curve_explorer     a cursor on the whole set's PRO curve (set FPR → one threshold for
                       every image): the defects it misses, the normal images it flags
=====================  ===============================================================

Every view has ``overlay`` (heatmap on/off) and ``contours`` toggles, its controls as
attributes (set ``view.threshold.value = 0.4`` in code as well as with the mouse), ``state``
(what the current controls compute), ``figure`` (the last rendered figure), ``update()`` and
``ui`` (the widget box; the view itself displays as that box in Jupyter).

ipywidgets is imported only when a view is built. With ``static=True``, ``ADLIB_STATIC=1``
(papermill / CI) or without ipywidgets, each function returns a static ``Figure`` instead, whose
title says so (``fig.adlib_static`` holds the note).
"""

from ._base import STATIC_ENV, View, static_reason
from .browse import BrowseByScore, browse_by_score, ranking
from .compare import CompareMethods, compare_methods
from .pro_curve import ProCurveExplorer, pro_curve_explorer
from .threshold import ThresholdExplorer, threshold_explorer

__all__ = [
    "STATIC_ENV",
    "BrowseByScore",
    "CompareMethods",
    "ProCurveExplorer",
    "ThresholdExplorer",
    "View",
    "browse_by_score",
    "compare_methods",
    "pro_curve_explorer",
    "ranking",
    "static_reason",
    "threshold_explorer",
]
