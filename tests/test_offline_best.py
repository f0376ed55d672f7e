"""The `offline_best` profile (issue 21 point 2): every table that runs on MTD at the `small` profile also offers
`offline_best`, which is its `small` with the best offline teacher found on MTD and four times the schedule."""
from __future__ import annotations

import pytest

from adlib.reproduce import expand, load_config
from adlib.reproduce.schema import profile_names, resolve_profile, table_configs

TEACHER_KEYS = {"backbone", "teacher", "decoder_out_act"}  # the teacher, and the decoder end the study measured with it


def _mtd_small_tables():
    out = []
    for path in table_configs():
        cfg = load_config(path)
        if "small" in profile_names(cfg) and resolve_profile(cfg, "small").sections["data"].get("dataset") == "mtd":
            out.append((path, cfg))
    return out


def _teacher_axis(cfg) -> bool:
    """Tables whose small grid varies the teacher itself (the papers' teacher tables): no single best teacher."""
    return "backbone" in resolve_profile(cfg, "small").grid


@pytest.mark.parametrize("path,cfg", _mtd_small_tables(), ids=lambda v: getattr(v, "stem", ""))
def test_every_mtd_table_offers_offline_best_differing_only_in_teacher_and_schedule(path, cfg):
    if _teacher_axis(cfg):
        assert "offline_best" not in profile_names(cfg), f"{path}: its grid is the teacher"
        return
    assert "offline_best" in profile_names(cfg), f"{path} runs on MTD at `small` but offers no `offline_best`"
    _differ_only_in_teacher_and_schedule(path, cfg, "small", "offline_best")


@pytest.mark.parametrize("path,cfg", [(p, c) for p, c in _mtd_small_tables() if "small_paper" in profile_names(c)],
                         ids=lambda v: getattr(v, "stem", ""))
def test_a_table_with_a_paper_mode_profile_offers_it_at_offline_best_too(path, cfg):
    assert "offline_best_paper" in profile_names(cfg), f"{path} offers `small_paper` but no `offline_best_paper`"
    _differ_only_in_teacher_and_schedule(path, cfg, "small_paper", "offline_best_paper")
    assert resolve_profile(cfg, "offline_best_paper").sections["method"].get("mode") == "paper"


def _differ_only_in_teacher_and_schedule(path, cfg, base: str, best_name: str) -> None:
    small, best = resolve_profile(cfg, base), resolve_profile(cfg, best_name)
    for section in ("data", "eval"):
        assert best.sections[section] == small.sections[section], (path, section)
    sf, bf = small.sections["fit"], best.sections["fit"]
    length = "epochs" if sf.get("epochs") else "steps"
    assert bf[length] == 4 * sf[length], (path, sf, bf)  # MRKD's 98.9: 80 epochs = 4 x small's 20
    assert {k: v for k, v in bf.items() if k != length} == {k: v for k, v in sf.items() if k != length}
    assert best.grid == small.grid
    changed = {k for k in set(small.sections["method"]) | set(best.sections["method"])
               if small.sections["method"].get(k) != best.sections["method"].get(k)}
    assert changed and changed <= TEACHER_KEYS, (path, changed)
    cells = expand(cfg, best_name)
    assert {c.config.get("backbone") or c.config.get("teacher") for c in cells} <= {
        "efficientnet_lite1", "extractor:efficientnet_lite1"}
    # the same cells as `small` otherwise: one offline_best cell per small cell
    assert len(cells) == len(expand(cfg, base))
