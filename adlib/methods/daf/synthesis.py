"""DAF's training draws (§IV.A.2, spec §2): a synthesis strategy chosen by name, every draw anomalous,
an empty label drawn again.

The strategies themselves live in :mod:`adlib.synthesis` (``build_strategy(name, ...)``: DRA, NSA_B,
the simple strategies, CutPaste). :class:`Redraw` keeps drawing from the same generator while the
label is empty (the code re-draws empty Perlin masks), so draws stay deterministic per
(seed, image, draw).
"""

from __future__ import annotations

import numpy as np


def resolve_strategy(name: str, *, category: str | None = None, texture_source: str = "dtd",
                     beta_max: float = 0.8):
    """``(synthesize, needs_source)`` for strategy ``name`` (``needs_source``: it takes a second
    training image, as NSA_B does)."""
    import adlib.synthesis as synthesis

    build = getattr(synthesis, "build_strategy", None)
    if build is not None:
        strategy = build(name, category=category, texture_source=texture_source, beta_max=beta_max)
        return strategy, bool(getattr(strategy, "needs_source", False))
    # ---- INTERIM RESOLVER (until adlib.synthesis.build_strategy exists; the lead replaces it at the merge) ----
    if name != "nsa_b":
        raise NotImplementedError(f"synthesis {name!r} needs adlib.synthesis.build_strategy (branch 'synth'); "
                                  "until it is merged only 'nsa_b' is available")
    cfg = synthesis.nsa_paper_config(category)  # NSA with binary labels: Poisson clone from another image
    return synthesis.NSA(cfg), not cfg.same
    # ---- END INTERIM RESOLVER ----


class Redraw:
    """A picklable strategy wrapper: up to ``max_redraws`` more draws from the same generator while
    the label is empty (the last draw is returned whatever it is)."""

    def __init__(self, synthesize, max_redraws: int = 32):
        if max_redraws < 0:
            raise ValueError(f"max_redraws must be >= 0, got {max_redraws}")
        self.synthesize, self.max_redraws = synthesize, int(max_redraws)

    def __call__(self, dest: np.ndarray, src: np.ndarray | None, rng: np.random.Generator):
        for _ in range(self.max_redraws + 1):
            out = self.synthesize(dest, src, rng)
            label = out.label if hasattr(out, "label") else out[1]
            if np.any(np.asarray(label) > 0):
                break
        return out
