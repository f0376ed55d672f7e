"""Verdicts of a reproduction: does our number support the paper's claim, beyond the noise?

Four verdicts (:data:`VERDICTS`), each given with its reason:

``holds``
    a value claim on the same data: ours is above the paper's value by more than the noise;
    an ordering claim ("A > B"): our A − B is positive by more than the noise.
``within noise``
    |ours − paper| (a value), or |our A − B| (an ordering), is at most the noise: the data cannot
    tell ours from the paper (a value reproduced), or A from B (an ordering not confirmed either way).
``reversed``
    a value: ours is below the paper's value by more than the noise (the claim is not reached);
    an ordering: our A − B is negative by more than the noise (we find B > A).
``not comparable``
    no number of the paper for this metric, no result of ours, a different metric definition
    (e.g. another PRO), or the paper's value is on other data and there is no ordering to compare.

The noise (percentage points) is ``max(2 × spread over seeds, floor)``; for an ordering of image AUROC
with one seed on each side, a paired bootstrap over the test images of the two runs must also exclude 0
when their per-image scores are stored (``extra.image_scores``; without a pooled spread it alone decides):

* spread over seeds, a value: the sample std of ours over seeds (needs n ≥ 2);
  an ordering: the std of the per-seed difference A − B when both were run with ≥ 2 common seeds,
  else √(std_A² + std_B²) when each has n ≥ 2, else √2 × the std of the side with n ≥ 2 when the other
  has one seed (both assumed to vary alike between runs); with n = 1 on both sides the seed noise is
  unknown and only the floor is used (said in the reason).
* pooled run-to-run noise (:func:`pooled_std`): where a side has one seed, its own spread is unknown and
  a std over three seeds of another setting is itself a rough estimate (a 0.1-point spread over three
  seeds next to two seeds of another setting 1.2 points apart). When the report gives the pooled std
  of all its multi-seed cells of the same dataset, metric and category, it stands in: a one-seed value
  gets ``2 × pooled``; an ordering with one side on one seed uses √2 × max(std of the other side,
  pooled); an ordering with one seed on each side uses √2 × pooled, and where a bootstrap interval exists
  too both must be beaten (the interval off 0 and A − B beyond the seed noise). The pooled spread only
  adds noise where the rule before it had the floor or one side's std, so no verdict becomes easier;
  cells with seeds on both sides keep their own spreads.
* floor (:func:`noise_floor`): what the test set can resolve. For image AUROC one swapped pair of
  test images (one normal ranked above one anomalous) moves the AUROC by
  ``100 / (n_normal · n_anomalous)`` points; over several categories (an ``average``) the mean of
  their floors. For every metric at least :data:`PRINT_FLOOR` (the papers print one decimal, so
  their values are only known to ± 0.05 points).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

VERDICTS = ("holds", "within noise", "reversed", "not comparable")
PRINT_FLOOR = 0.05  # half of the papers' last printed digit (0.1 points)


@dataclass
class Verdict:
    """A verdict with its reason; ``delta`` (ours − paper, or our A − B) and ``noise`` in points."""

    verdict: str
    reason: str
    delta: float | None = None
    noise: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def pair_floor(n_normal: int, n_anomalous: int) -> float | None:
    """Points of image AUROC that one swapped (normal, anomalous) pair of test images moves it by."""
    return 100.0 / (n_normal * n_anomalous) if n_normal and n_anomalous else None


def noise_floor(metric: str, test_counts=()) -> float:
    """The smallest difference the test set resolves, in points: for ``image_auroc`` the mean over
    ``test_counts`` (``(n_normal, n_anomalous)`` per category) of :func:`pair_floor`; at least
    :data:`PRINT_FLOOR` for every metric."""
    floors = [f for c in test_counts if (f := pair_floor(*c))] if metric == "image_auroc" else []
    return max(PRINT_FLOOR, statistics.fmean(floors) if floors else 0.0)


@dataclass(frozen=True)
class Pooled:
    """Pooled run-to-run std (points) over ``cells`` settings with ≥ 2 seeds (``dof`` = Σ (n − 1))."""

    std: float
    cells: int
    dof: int

    def text(self) -> str:
        return f"pooled std {self.std:.2f} over {self.cells} multi-seed cell{'s' if self.cells > 1 else ''} of this report"


def pooled_std(groups) -> Pooled | None:
    """√(Σ (n_i − 1) s_i² / Σ (n_i − 1)) over ``groups`` (iterables of per-seed values; missing or
    non-finite values dropped); groups with fewer than two values are left out; None when none has two."""
    groups = [[v for v in g if v is not None and math.isfinite(v)] for g in groups]
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        return None
    dof = sum(len(g) - 1 for g in groups)
    return Pooled(math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups) / dof), len(groups), dof)


def _noise(spread: float | None, floor: float, how: str) -> tuple[float, str]:
    if spread is None:
        return floor, f"n = 1, seed noise unknown: test-set floor {floor:.2f}"
    if 2 * spread >= floor:
        return 2 * spread, f"2 × {how} = {2 * spread:.2f}"
    return floor, f"test-set floor {floor:.2f} (> 2 × {how} = {2 * spread:.2f})"


def value_verdict(ours_mean: float | None, ours_std: float | None, n: int, paper: float | None,
                  floor: float = PRINT_FLOOR, pooled: Pooled | None = None) -> Verdict:
    """Ours (mean, std over ``n`` seeds) against the paper's value on the same data, in points; a
    one-seed value borrows the ``pooled`` run-to-run std when given."""
    if paper is None:
        return Verdict("not comparable", "the paper gives no value here")
    if not n or ours_mean is None:
        return Verdict("not comparable", "no result of ours")
    if n == 1 and pooled is not None:
        noise, how = _noise(pooled.std, floor, f"{pooled.text()} (n = 1 here)")
    else:
        noise, how = _noise(ours_std if n > 1 else None, floor, "std over seeds")
    delta = ours_mean - paper
    if abs(delta) <= noise:
        return Verdict("within noise", f"|ours − paper| = {abs(delta):.2f} ≤ noise ({how})", delta, noise)
    side = "above" if delta > 0 else "below"
    return Verdict("holds" if delta > 0 else "reversed",
                   f"ours {side} the paper by {abs(delta):.2f} > noise ({how})", delta, noise)


def difference_noise(a: dict, b: dict, pooled: Pooled | None = None) -> tuple[float, float | None, str]:
    """``(mean A − mean B, spread of that difference or None, how)`` from ``{seed: value}`` of two
    settings; ``pooled`` stands in where a side has one seed (see the module docstring)."""
    diff = statistics.fmean(a.values()) - statistics.fmean(b.values())
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        return diff, statistics.stdev([a[s] - b[s] for s in common]), f"std of the per-seed difference (n = {len(common)})"
    if len(a) >= 2 and len(b) >= 2:
        return diff, math.hypot(statistics.stdev(a.values()), statistics.stdev(b.values())), "√(std_A² + std_B²)"
    for name, many, one in (("A", a, b), ("B", b, a)):
        if len(many) >= 2 and len(one) == 1:  # one side's seeds stand for both: run-to-run noise assumed alike
            own = statistics.stdev(many.values())
            if pooled is not None:
                return (diff, math.sqrt(2) * max(own, pooled.std), f"√2 × max(std_{name} = {own:.2f} (n = "
                        f"{len(many)}), {pooled.text()}); the other setting has one seed")
            return (diff, math.sqrt(2) * own,
                    f"√2 × std_{name} (n = {len(many)}; the other setting has one seed, its noise assumed alike)")
    if pooled is not None and len(a) == 1 and len(b) == 1:
        return diff, math.sqrt(2) * pooled.std, f"√2 × {pooled.text()} (one seed each)"
    return diff, None, ""


def ordering_verdict(a: dict, b: dict, floor: float = PRINT_FLOOR,
                     interval: tuple[float, float, str] | None = None, pooled: Pooled | None = None) -> Verdict:
    """The claim "A > B": our per-seed values ``{seed: points}`` of A and of B. With one seed on each
    side, ``interval`` — ``(low, high, how)``, a 95 % bootstrap interval of A − B over the test images
    (points) — decides instead of the floor: "holds" if it lies above 0, "reversed" below, else
    "within noise"; ``noise`` is then its half width. With a ``pooled`` run-to-run std as well, A − B
    must also exceed that seed noise (``noise`` is the larger of the two)."""
    if not a or not b:
        return Verdict("not comparable", "a setting of the claim has no result of ours")
    diff, spread, how = difference_noise(a, b, pooled)
    if interval is not None and len(a) == 1 and len(b) == 1:
        low, high, over = interval
        half, text = (high - low) / 2, f"95 % bootstrap interval of A − B over {over}: [{low:+.2f}, {high:+.2f}]"
        seed_noise, seed_how = _noise(spread, floor, how) if spread is not None else (0.0, "")
        beyond = f" and |A − B| > seed noise ({seed_how})" if spread is not None else ""
        noise = max(half, seed_noise)
        if low > 0 and diff > seed_noise:
            return Verdict("holds", f"A − B = {diff:+.2f}; {text} lies above 0{beyond}", diff, noise)
        if high < 0 and diff < -seed_noise:
            return Verdict("reversed", f"A − B = {diff:+.2f}; {text} lies below 0{beyond}", diff, noise)
        if low > 0 or high < 0:
            return Verdict("within noise", f"A − B = {diff:+.2f}; {text} excludes 0, but |A − B| ≤ seed noise "
                           f"({seed_how})", diff, noise)
        return Verdict("within noise", f"A − B = {diff:+.2f}; {text} contains 0", diff, noise)
    noise, how = _noise(spread, floor, how)
    if abs(diff) <= noise:
        return Verdict("within noise", f"|A − B| = {abs(diff):.2f} ≤ noise ({how})", diff, noise)
    if diff > 0:
        return Verdict("holds", f"A − B = {diff:+.2f} > noise ({how})", diff, noise)
    return Verdict("reversed", f"A − B = {diff:+.2f}, below −noise ({how})", diff, noise)
