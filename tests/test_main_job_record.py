"""The recorded main job (docs/results/main_job_cpu.json, made by benchmarks/main_job.py) is today's:
it trained exactly the quick cells the configs define, each above chance, within the README's time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlib.reproduce import expand, load_config, profile_names, table_configs

RECORD = Path(__file__).resolve().parents[1] / "docs" / "results" / "main_job_cpu.json"


def _quick_trainings() -> set[str]:
    paths = set()
    for f in table_configs():
        cfg = load_config(f)
        for profile in ("quick", "quick_mtd"):
            if profile in profile_names(cfg):
                paths |= {c.results_path(Path("runs")).relative_to("runs").as_posix() for c in expand(cfg, profile)}
    return paths


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(RECORD.read_text())


def test_the_record_holds_todays_quick_cells(record):
    recorded = {c["path"] for c in record["cells"]}
    wanted = _quick_trainings()
    assert recorded == wanted, ("the configs' quick cells changed since the main job was measured: run "
                                f"benchmarks/main_job.py again (new: {sorted(wanted - recorded)[:5]}, "
                                f"gone: {sorted(recorded - wanted)[:5]})")
    assert record["n_trainings"] == len(recorded)


@pytest.mark.parametrize("method", ["rd", "rd_var", "mrkd", "daf", "dm_grd",
                                    "efficientad", "mhkd"])
def test_every_quick_cell_learns(record, method):
    """Each quick training ranks its test set's anomalies above its normal images (image AUROC > 0.5)."""
    cells = [c for c in record["cells"] if c["method"] == method]
    assert cells, f"no {method} cell in the record"
    at_chance = {c["path"]: c["image_auroc"] for c in cells if not c["image_auroc"] > 0.5}
    assert not at_chance, f"quick cells at or below chance: {at_chance}"


def test_the_main_job_fits_the_time_the_readme_states(record):
    assert record["reproduce_all_s"] <= 600  # from a prepared data root
    assert record["data_prepare_s"] + record["reproduce_all_s"] <= 720  # from an empty one
    readme = (RECORD.parents[2] / "README.md").read_text()
    assert f"{record['reproduce_all_s'] / 60:.0f} minutes" in readme.split("```")[0], "README's main-job time"
