"""adlib.reproduce.seed_stats: mean ± std over seeds as the study pages print them."""
import math

from adlib.reproduce.seed_stats import format_seed_stats, seed_stats


def test_seeds_not_run_are_left_out_and_the_scale_applies():
    ms = seed_stats([0.9, None, float("nan"), 0.95], scale=100)
    assert ms["n"] == 2 and ms["values"] == [90.0, 95.0]
    assert ms["mean"] == 92.5 and math.isclose(ms["std"], 5 / math.sqrt(2))
    assert format_seed_stats(ms) == "92.5 ± 3.5 (2)"


def test_one_seed_has_no_std_and_none_prints_a_dash():
    one = seed_stats([-1.25])
    assert one["std"] is None and format_seed_stats(one) == "-1.2 (1)"
    assert seed_stats([None])["mean"] is None
    assert format_seed_stats(seed_stats([])) == format_seed_stats(None) == "—"


def test_printing_rounds_once():
    """A std of 2.6503 prints 2.7: storing it rounded to 2.65 first would print 2.6 (2.65 is 2.6499… in binary)."""
    ms = seed_stats([0.0, 2.6503 * math.sqrt(2)])
    assert format_seed_stats(ms).split(" ± ")[1] == "2.7 (2)"
