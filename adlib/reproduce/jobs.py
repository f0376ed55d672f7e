"""Notebook jobs of a table grid: one papermill run per cell, and the checks made before running it.

    cfg = load_config("rd_variance_loss/table4")
    jobs = jobs_for(cfg, "small", "runs")          # one Job per grid cell
    [preflight(j) for j in jobs]                   # None, or "not run: <what is missing>"

Each job executes the config's ``notebook`` with the cell's values as papermill parameters. Its
folder is ``<output_dir>/<paper>/<dataset>/<category>/<tag>/seed<seed>/`` (the cell's
:func:`adlib.experiment.results_path` folder): ``notebook.ipynb`` (the executed copy),
``results.json`` (the cell's results, copied from what the notebook wrote under its own
``output_dir``, ``notebook_output/``), ``error.txt`` when it failed.
"""

from __future__ import annotations

import ast
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from adlib.paths import resource_dir

from .grid import Cell, expand
from .preflight import check_inputs, check_output_dir

ALIASES = {"root": "data_root"}  # run_experiment's name → the notebooks' name
METHOD_OVERRIDES = "method_overrides"  # a notebook parameter: any other field of the method's config dataclass


@dataclass
class Job:
    """One cell of a grid, as a notebook run."""

    cell: Cell
    notebook: Path
    parameters: dict
    output_notebook: Path
    results_path: Path
    status: str = "pending"
    timeout_s: float | None = None
    defaults: dict = field(default_factory=dict, repr=False)  # the notebook's own parameter values

    @property
    def cell_dir(self) -> Path:
        return self.output_notebook.parent

    @property
    def notebook_output_dir(self) -> Path:
        return self.cell_dir / "notebook_output"

    @property
    def error_path(self) -> Path:
        return self.cell_dir / "error.txt"

    def done(self) -> bool:
        """The cell's results file is there and valid (a corrupt one is not done)."""
        from .cellstate import read_results_file

        return read_results_file(self.results_path, self.cell.method, self.cell.run["seed"])[0] is not None

    def value(self, name: str, default=None):
        """A parameter as the notebook will see it (given, else the notebook's default)."""
        return self.parameters.get(name, self.defaults.get(name, default))

    def record(self, status: str, **extra) -> dict:
        self.status = status
        c = self.cell
        return {"tag": c.tag, "method": c.method, "category": c.run.get("category"), "dataset": c.run.get("dataset"),
                "seed": c.run.get("seed"), "setting": c.setting, "path": str(self.results_path),
                "notebook": str(self.output_notebook), "status": status, **extra}


def resolve_notebook(name: str | os.PathLike) -> Path:
    """A config's ``notebook``: a path (absolute or relative to the cwd), else a name in the package's
    notebooks (:func:`adlib.paths.resource_dir`)."""
    p = Path(name).expanduser()
    shipped = resource_dir("notebooks") / p
    for cand in (p, shipped):
        if cand.is_file():
            return cand.resolve()
    raise FileNotFoundError(f"notebook {name!r} not found (looked at {p} and {shipped})")


@functools.lru_cache(maxsize=32)
def _declared(path: str, mtime: float) -> dict:
    """``(names→default)`` of a notebook's ``parameters`` cell: papermill's view, completed by parsing
    the cell (papermill skips assignments whose comment contains ``=``)."""
    import logging

    import papermill

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path}: no cell tagged 'parameters' (papermill needs one)")
    names: dict = {}
    try:
        tree = ast.parse("".join(cells[0]["source"]))
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    names[t.id] = ast.literal_eval(node.value) if node.value is not None else None
                except ValueError:
                    names[t.id] = None
    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(logging.ERROR)  # its "Unable to parse line" warnings: the ast parse above has those names
    try:
        for name in papermill.inspect_notebook(path):
            names.setdefault(name, None)
    finally:
        log.setLevel(level)
    return names


def notebook_parameters(path: str | os.PathLike) -> dict:
    """The notebook's declared parameters and their default values."""
    p = Path(path)
    return dict(_declared(str(p.resolve()), p.stat().st_mtime))


def cell_parameters(cell: Cell) -> dict:
    """The cell's run and config values under the notebooks' names (``root`` → ``data_root``)."""
    return {ALIASES.get(k, k): v for k, v in {**cell.run, **cell.config}.items()}


def jobs_for(cfg: dict, profile: str = "small", output_dir: str | os.PathLike = "runs", *,
             notebook: str | os.PathLike | None = None, overrides: dict | None = None) -> list[Job]:
    """One :class:`Job` per cell of ``cfg`` (see :func:`adlib.reproduce.grid.expand`).

    Parameters are the cell's run and config values (``root`` is passed as ``data_root``; method settings
    that the notebook has no variable for go into its ``method_overrides`` dict, which the notebook
    applies through the method's config dataclass, when it declares one), then the
    config's ``notebook_parameters`` (switches of the notebook only, e.g. MRKD's ``teach: false``:
    no extra teaching models in batch runs), then ``overrides`` (e.g. ``{"device": "cpu", "data_root": ...}``), then ``output_dir`` and ``seed``.
    A value the notebook does not declare is an error naming it, so configs and notebooks cannot drift.
    """
    nb_name = notebook or cfg.get("notebook")
    if not nb_name:
        raise ValueError(f"config {cfg.get('paper')}/{cfg.get('table')} names no 'notebook'")
    nb = resolve_notebook(nb_name)
    declared = notebook_parameters(nb)
    jobs, cells = [], expand(cfg, profile)
    check_output_dir(cells, output_dir)
    for cell in cells:
        path = cell.results_path(output_dir)
        values = cell_parameters(cell)
        if METHOD_OVERRIDES in declared:  # method settings the notebook has no variable for: through the dataclass
            extra = {k: values.pop(k) for k in cell.config if k not in declared and k in values}
            if extra:
                values[METHOD_OVERRIDES] = extra
        values.update(cfg.get("notebook_parameters") or {})  # notebook-only switches (not part of the tag)
        values.update(overrides or {})
        unknown = sorted(k for k, v in values.items() if k not in declared and v is not None)
        if unknown:
            raise ValueError(f"{cfg['paper']}/{cfg['table']} ({profile}) sets {', '.join(map(repr, unknown))}, "
                             f"which {nb.name} does not declare in its parameters cell (declares: {', '.join(declared)})")
        params = {k: v for k, v in values.items() if k in declared}
        job = Job(cell, nb, params, path.parent / "notebook.ipynb", path, timeout_s=cfg.get("timeout_s"),
                  defaults=declared)
        if "output_dir" in declared:
            params["output_dir"] = str(Path(job.notebook_output_dir).resolve())
        params["seed"] = cell.run["seed"]
        jobs.append(job)
    return jobs


def group_key(job: Job) -> str:
    """Jobs with equal keys are the same notebook run (e.g. rd and rd_var from one notebook)."""
    params = {k: v for k, v in job.parameters.items() if k != "output_dir"}
    return json.dumps([str(job.notebook), params], sort_keys=True, default=str)


def group_jobs(jobs: list[Job]) -> list[list[Job]]:
    groups: dict[str, list[Job]] = {}
    for j in jobs:
        groups.setdefault(group_key(j), []).append(j)
    return list(groups.values())


def preflight(job: Job) -> str | None:
    """``"not run: <what is missing>"`` when the job's data or teacher weights are missing, else None
    (:mod:`adlib.reproduce.preflight`; nothing is downloaded)."""
    return check_inputs(lambda name, default=None: job.value(ALIASES.get(name, name), default))
