"""What the DM-GRD docs scripts beside this file share: the recorded runs of a table's cells, read through its config
(so other tables' runs never mix in), and how a metric is printed. Imported by ``table6.py``, ``table789.py``,
``paper_vs_code.py``, ``loss_zeros.py`` and ``left.py`` (a script's own folder is on ``sys.path`` when it runs).
``RUNS`` and the scripts' paths are relative to the repo root, where they run."""
import json
import platform
from pathlib import Path

from adlib.reproduce import load_config
from adlib.reproduce.grid import expand

RUNS = "docs/results/dm_grd/runs"
MODES = (("small", "code"), ("small_paper", "paper"))  # the two profiles every table was run at, and their mode
SEEDS = (0, 1, 2)


def table_cells(table: str, seeds=SEEDS, modes=MODES):
    """``(mode, cell)`` for every cell of ``adlib/configs/dm_grd/table<table>.yaml`` at each profile of ``modes`` the
    table has (Table 7 has no paper-mode profile), for ``seeds``."""
    cfg = dict(load_config(f"dm_grd/table{table}"), seeds=list(seeds))
    for profile, mode in modes:
        if profile in cfg["profiles"]:
            for cell in expand(cfg, profile):
                yield mode, cell


def read_cells(table: str, root: str = RUNS, seeds=SEEDS, modes=MODES):
    """``(mode, cell, results)`` for every cell of :func:`table_cells` that has a results file under ``root``."""
    return [(mode, cell, r) for mode, cell in table_cells(table, seeds, modes)
            if (r := cell.read_results(root)[0]) is not None]


def small_settings(table: str = "6") -> set:
    """The ``key=value`` parts of the `small` profile's full-method cell folder (the settings every `small` run
    shares, such as the teacher, size and schedule), plus ``mode=paper``: what is left of a folder name after
    removing them says how a run differs from the full method."""
    cfg = dict(load_config(f"dm_grd/table{table}"), seeds=[0])
    full = [c for c in expand(cfg, "small") if c.setting.get("losses", "kd+ot+con+se") == "kd+ot+con+se"]
    parts = set(full[0].tag.split("__")[1:]) - {"losses=kd+ot+con+se"}
    return parts | {"mode=paper"}


def pct(r, k) -> str:
    """A metric of a results record in percent, one decimal; "–" when the run has none (or no record)."""
    v = ((r or {}).get("metrics", {}).get(k) or {}).get("value")
    return "–" if v is None else f"{100 * v:.1f}"


def provenance() -> dict:
    """``commit`` and ``machine`` of a probe's record (the two probe scripts beside this file)."""
    import torch

    from adlib.engine.env import cpu_model, git_commit

    return {"commit": git_commit(Path(__file__).resolve().parent),
            "machine": {"cpu_model": cpu_model(), "python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()}}


def write_record(stem: str, rec: dict, lines: list[str]) -> None:
    """``<stem>.json`` (the record) and ``<stem>.md`` (``lines``) beside this file; the markdown is printed too."""
    here = Path(__file__).resolve().parent
    (here / f"{stem}.json").write_text(json.dumps(rec, indent=1) + "\n")
    (here / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
