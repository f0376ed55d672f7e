"""Mean ± std over seeds, as the study pages print them: ``"95.5 ± 1.1 (3)"``.

Shared by the scripts that summarise runs across seeds (``tools/fidelity_study.py``, ``tools/mtd_methods.py``).
"""

from __future__ import annotations

import math
import statistics


def seed_stats(values, scale: float = 1.0) -> dict:
    """``{"mean", "std", "n", "values"}`` of ``values`` × ``scale``, unrounded (printing rounds once: a value stored
    rounded and rounded again when printed can move the last digit); ``None`` and NaN are left out (a seed not run);
    ``std`` is ``None`` below two values, ``mean`` too when there is none."""
    vals = [scale * v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None,
            "n": len(vals), "values": vals}


def format_seed_stats(ms: dict | None) -> str:
    """``"m ± s (n)"`` with one decimal; ``"m (1)"`` for one seed; ``"—"`` when nothing was run."""
    if not ms or ms.get("mean") is None:
        return "—"
    sd = f" ± {ms['std']:.1f}" if ms.get("std") is not None else ""
    return f"{ms['mean']:.1f}{sd} ({ms['n']})"
