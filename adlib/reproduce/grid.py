"""Table grids: a table config lists the cells of a paper table; each cell is one experiment.

The config format (``data`` / ``method`` / ``fit`` / ``eval`` sections, shared profiles) is
:mod:`adlib.reproduce.schema`'s. :func:`expand` turns a table and one of its profiles into cells
(categories × grid × seeds); :func:`run_grid` runs them in-process with
:func:`adlib.experiment.run_experiment`, skipping cells whose results file is valid, redoing those
whose file is corrupt (kept as ``results.json.corrupt``), skipping cells another run holds the lock
of (:mod:`adlib.reproduce.cellstate`) and recording failures without stopping. Progress: a bar on a
terminal, else a line per cell (start, end, seconds, outcome; :mod:`adlib.reproduce.progress`).

A grid axis named ``variant`` selects an evaluation variant of one trained model instead of a new
training (MRKD's Table 7 score maps: ``results["extra"]["variants"][name]``); the value equal to
``main_variant`` (if set) is the run's own metrics.
"""

from __future__ import annotations

import itertools
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .cellstate import (CellLock, CellLocked, clean_partial, corrupt_status, read_results_file, results_note,
                        set_aside)
from .progress import CellProgress, cell_label
from .preflight import check_inputs, check_output_dir, data_problems
from .schema import ConfigError, axis_section, load_config, resolve_profile, source_of

__all__ = ["Cell", "collect", "expand", "finish_status", "load_config", "plan_cells", "run_grid", "variant_view", "error_line"]

# run_experiment's keywords, in the order cells list them (the data / fit / eval sections, flat)
RUN_ORDER = ("dataset", "category", "image_size", "epochs", "steps", "batch_size", "seed", "root", "aupro_mode",
             "mask_interpolation", "device", "ckpt_selection", "val_split", "fpr_limit", "image_score", "eval_every",
             "selection_metric")


def error_line(text: str) -> str:
    """The exception line of a saved traceback (else the first line of the text)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if lines and lines[0].startswith("Traceback"):
        top = [ln for ln in lines if not ln[0].isspace() and not ln.startswith(("Traceback", "During handling",
                                                                                 "The above exception"))]
        return top[-1] if top else lines[-1].strip()
    return lines[0] if lines else "(empty error.txt)"


@dataclass
class Cell:
    """One experiment of a table: run settings + method config, and a tag naming the setting."""

    paper: str
    table: str
    method: str
    run: dict
    config: dict
    tag: str
    setting: dict = field(default_factory=dict)
    variant: str | None = None  # an evaluation variant of the trained model (results' extra.variants)

    def results_path(self, output_dir: str | os.PathLike) -> Path:
        """Where this cell's training writes its results file under ``output_dir``."""
        from adlib.experiment import results_path

        return results_path(output_dir, self.paper, self.run["dataset"], self.run["category"], self.tag, self.run["seed"])

    def missing_inputs(self) -> str | None:
        """``"not run: <what is missing>"`` when the cell's data or teacher weights are absent, else None."""
        values = {**self.run, **self.config, "method": self.method}
        return check_inputs(values.get)

    def failure(self, output_dir: str | os.PathLike) -> str | None:
        """The exception line of the cell's ``error.txt`` under ``output_dir``, or None if it has none."""
        error = self.results_path(output_dir).parent / "error.txt"
        if not error.is_file():
            return None
        return error_line(error.read_text())

    def read_results(self, output_dir: str | os.PathLike) -> tuple[dict | None, str | None]:
        """``(results, None)`` when the cell's results file is valid, ``(None, why)`` when it is corrupt,
        ``(None, None)`` when there is none (:func:`~adlib.reproduce.cellstate.read_results_file`)."""
        return read_results_file(self.results_path(output_dir), self.method, self.run["seed"])

    def status(self, output_dir: str | os.PathLike) -> str:
        """Where the cell stands under ``output_dir``: ``done``, ``failed: <error>`` (its ``error.txt``, or
        ``corrupt results file <path>: <why>``), ``not run: <what is missing>`` or ``to run``."""
        res, why = self.read_results(output_dir)
        if res is not None:
            return "done"
        if why is not None:
            return corrupt_status(self.results_path(output_dir), why)
        if (why := self.failure(output_dir)) is not None:
            return "failed: " + why
        return self.missing_inputs() or "to run"


TAG_RUN_KEYS = ("image_size", "epochs", "steps", "batch_size")
TAG_EXTRA_KEYS = ("ckpt_selection", "val_split", "fpr_limit", "image_score", "eval_every",
                  "selection_metric")  # named only when set


def _tag(method: str, config: dict, run: dict) -> str:
    """A readable name of everything that defines the experiment (config values that differ from
    the method's defaults, plus size/schedule), so equal cells of different tables share results.
    A method may map equivalent configs onto one (``canonical_config``: MRKD's α = 0 is "no ILM")."""
    from dataclasses import MISSING, fields

    from adlib import methods  # the package import fills the registry: tags must not depend on import order

    defaults = {}
    if method in methods.available():
        config = methods.method_class(method).canonical_config(dict(config))
        for f in fields(methods.config_class(method)):
            if f.default is not MISSING:
                defaults[f.name] = f.default
    parts = [f"{k}={v}" for k, v in sorted(config.items()) if defaults.get(k, object()) != v]
    parts += [f"{k}={run[k]}" for k in (*TAG_RUN_KEYS, *TAG_EXTRA_KEYS) if run.get(k) is not None]
    return "__".join([method, *parts]).replace("/", "_").replace(" ", "")


def _check_run(run: dict, where: str) -> None:
    """Values run_experiment would only reject after loading data: checked when the cell is made."""
    from adlib.engine.selection import FIT_CKPT_SELECTIONS
    from adlib.methods.common import ImageScore

    from adlib.engine.loop import positive_int

    bad = [f"{k} must be a positive integer, got {run[k]!r}" for k in ("epochs", "steps", "batch_size", "image_size",
                                                                      "eval_every")
           if run.get(k) is not None and not positive_int(run[k])]
    bad += data_problems(run)
    if bad:
        raise ConfigError(f"{where}: " + "; ".join(bad))
    if run.get("ckpt_selection") not in (None, *FIT_CKPT_SELECTIONS):
        raise ConfigError(f"{where}: ckpt_selection must be one of {FIT_CKPT_SELECTIONS}, got {run['ckpt_selection']!r}")
    if run.get("image_score") is not None:
        try:
            ImageScore.parse(run["image_score"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _folder_paths(run: dict) -> dict:
    """A folder dataset as an absolute path (notebooks run in the cell's folder; keys must not depend on the cwd)."""
    from adlib.data.catalog import is_folder_dataset

    ds = run.get("dataset")
    if isinstance(ds, str) and is_folder_dataset(ds):
        run = {**run, "dataset": os.path.abspath(os.path.expanduser(ds))}
    return run


def _check_method_config(method: str, config: dict, where: str) -> None:
    """Unknown method keys and values of the wrong type, found when the cell is made (not after data load)."""
    from adlib import methods

    if method not in methods.available():
        raise ConfigError(f"{where}: unknown method {method!r}; available: {methods.available()}")
    try:
        methods.make_config(method, **config)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def expand(cfg: dict, profile: str = "small") -> list[Cell]:
    """All cells of a table config for one of its profiles (``small`` for CPU, ``full`` for the paper's settings)."""
    prof = resolve_profile(cfg, profile)
    sec = prof.sections
    categories = sec["data"].get("categories") or [None]
    base = {k: v for k, v in {**sec["data"], **sec["fit"], **sec["eval"]}.items() if k != "categories"}
    names = sorted(prof.grid)
    cells = []
    for category, values, seed in itertools.product(categories, itertools.product(*(prof.grid[n] for n in names)),
                                                    cfg.get("seeds") or [0]):
        setting = dict(zip(names, values))
        method = setting.get("method", sec["method"]["name"])
        config = {k: v for k, v in sec["method"].items() if k != "name"}
        config.update({k: v for k, v in setting.items() if axis_section(k) == "method"})
        flat = {**base, **{k: v for k, v in setting.items() if axis_section(k) in ("data", "fit", "eval")},
                "category": category, "seed": seed}
        run = {k: flat[k] for k in RUN_ORDER if flat.get(k) is not None or k in ("category", "seed")}
        _check_run(run, f"{source_of(cfg)}: profile {profile!r}")
        _check_method_config(method, config, f"{source_of(cfg)}: profile {profile!r}")
        run = _folder_paths(run)
        variant = setting.get("variant")
        if variant is not None and variant == cfg.get("main_variant"):
            variant = None  # the run's own metrics
        cells.append(Cell(cfg["paper"], str(cfg["table"]), method, run, config, _tag(method, config, run), setting,
                          variant))
    return cells


def run_grid(cfg: dict, profile: str = "small", output_dir: str | os.PathLike = "runs", progress: bool = True,
             only: dict | None = None, workers: int = 1, timeout_s: float | None = None) -> list[dict]:
    """Run every cell not yet done; returns one status record per cell (done / skipped / failed).

    ``workers > 1`` runs that many cells at once in fresh processes (``spawn``): small teachers
    leave most of a large GPU idle, so several trainings share it (their throughput figures are
    then shared too). Cells that are one training (Table 7's variants) run once.
    ``timeout_s`` (default: the config's ``timeout_s``) is a wall-clock limit per cell: each cell
    then runs in its own process, killed at the limit and recorded as ``failed: timeout after N s``.
    """
    timeout_s = cfg.get("timeout_s") if timeout_s is None else timeout_s
    cells = [c for c in expand(cfg, profile) if not only or all(c.setting.get(k, c.run.get(k)) == v for k, v in only.items())]
    status, todo, shared = plan_cells(cells, output_dir)
    bar = CellProgress(len(todo), f"{cfg['paper']} table {cfg['table']}", enabled=progress)
    labels = {path: cell_label(cell) for path, (cell, _) in todo.items()}
    if (workers <= 1 or len(todo) <= 1) and not timeout_s:
        from adlib.data.base import shared_decoding  # not at the top: a cell process sets its GPU before torch

        with shared_decoding():  # cells on the same category decode its images once
            for cell, rec in todo.values():
                lock, st = _claim(cell, output_dir, rec)
                if lock is not None:
                    bar.start(labels[rec["path"]])
                    try:
                        st = _run_cell(cell, output_dir)
                    finally:  # Ctrl-C included: the cell is then neither done nor locked, and runs next time
                        lock.release()
                status.append({**rec, "status": st})
                bar.end(labels[rec["path"]], st)
    else:
        for rec, st in _run_in_processes(list(todo.values()), output_dir, max(1, workers), timeout_s,
                                         on_start=lambda rec: bar.start(labels[rec["path"]])):
            status.append({**rec, "status": st})
            bar.end(labels[rec["path"]], st)
    bar.close()
    return finish_status(status, shared)


def plan_cells(cells: list[Cell], output_dir, todo: dict | None = None) -> tuple[list[dict], dict, list[dict]]:
    """``(status, todo, shared)``: status records of the cells already done or missing inputs, the cells
    to train (``{results path: (cell, record)}``; pass ``todo`` to add to another table's) and the records
    of cells that are another cell's training (a variant, or the same run in two tables)."""
    check_output_dir(cells, output_dir)
    status, shared = [], []
    todo = {} if todo is None else todo
    for cell in cells:
        path = cell.results_path(output_dir)
        rec = {"tag": cell.tag, "category": cell.run["category"], "path": str(path), "setting": cell.setting,
               "seed": cell.run.get("seed")}
        res, _ = cell.read_results(output_dir)
        if res is not None:
            status.append({**rec, "status": "skipped (done)", "note": results_note(res)})
        elif (missing := cell.missing_inputs()) is not None:
            status.append({**rec, "status": missing})  # data or weights absent: said, not run
        elif str(path) in todo:
            shared.append(rec)  # another variant of a training already queued
        else:
            todo[str(path)] = (cell, rec)
    return status, todo, shared


def finish_status(status: list[dict], shared: list[dict], ran: dict | None = None) -> list[dict]:
    """The final records: cells another run held are re-read (they may be finished by now), shared
    cells take the outcome of the training they share (``ran``: ``{path: status}`` from elsewhere too)."""
    for st in status:
        if st["status"] == "done" or st["status"].startswith("skipped (running elsewhere"):
            res = read_results_file(st["path"])[0]
            st["status"] = "skipped (done)" if res is not None and st["status"] != "done" else st["status"]
            st.setdefault("note", results_note(res or {}))
    ran = {**(ran or {}), **{st["path"]: st["status"] for st in status}}
    return status + [{**rec, "status": "skipped (done)" if ran[rec["path"]] == "done" else ran[rec["path"]]}
                     for rec in shared]


def _cell_process(cell: Cell, output_dir, threads: int, env: dict) -> None:
    os.environ.update(env)  # before torch is imported: which GPU this cell sees
    from adlib.engine.env import THREADS_ENV

    os.environ.setdefault(THREADS_ENV, str(threads))  # run_experiment sets it (an ADLIB_THREADS given wins)
    _run_cell(cell, output_dir)


def _run_in_processes(todo: list, output_dir, workers: int, timeout_s: float | None, on_start=None,
                      deadline: float | None = None):
    """Yield ``(record, status)`` as cells finish, ``workers`` fresh processes (``spawn``: CUDA cannot be
    forked) at a time; a cell past ``timeout_s`` is killed. Outcomes are read from the files the cell
    leaves (results file, ``error.txt``), so a process that dies without a word is a failure too.
    With several GPUs visible, each cell is given the one running the fewest cells. ``on_start(record)``
    is called as a cell's process starts. ``deadline`` (a ``time.monotonic()`` value, for a machine lent
    for a fixed time): no cell starts after it, and cells still running then are killed and yielded as
    ``killed at the deadline`` (they leave no results and no ``error.txt``: a later run does them)."""
    import multiprocessing
    import time

    from .devices import device_env, resolve_devices

    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    gpus = [str(d) for d in resolve_devices("auto") if d != "cpu"]
    queue, running = list(todo), {}
    past = lambda: deadline is not None and time.monotonic() > deadline  # noqa: E731
    try:
        while (queue and not past()) or running:
            while queue and len(running) < workers and not past():
                cell, rec = queue.pop(0)
                lock, st = _claim(cell, output_dir, rec)
                if lock is None:
                    yield rec, st
                    continue
                gpu = least_busy(gpus, [r[3] for r in running.values()]) if len(gpus) > 1 else None
                proc = ctx.Process(target=_cell_process, args=(cell, output_dir, threads, device_env(gpu)))
                proc.start()
                if on_start is not None:
                    on_start(rec)
                running[proc] = (cell, rec, time.monotonic(), gpu, lock)
            time.sleep(0.1)
            for proc, (cell, rec, start, _, lock) in list(running.items()):
                late = timeout_s and time.monotonic() - start > timeout_s
                if proc.is_alive() and not late and not past():
                    continue
                cut = proc.is_alive() and not late  # still running at the deadline
                if proc.is_alive():
                    proc.kill()
                proc.join()
                del running[proc]
                lock.release()
                yield rec, ("killed at the deadline" if cut else
                            _process_outcome(cell, output_dir, proc.exitcode, timeout_s if late else None))
    finally:  # interrupted (Ctrl-C): no orphan trainings, no locks left
        for proc, (*_, lock) in running.items():
            proc.kill()
            proc.join()
            lock.release()


def least_busy(gpus: list[str], busy: list) -> str:
    """The GPU id among ``gpus`` that appears least often in ``busy`` (the first on ties)."""
    return min(gpus, key=lambda g: (busy.count(g), gpus.index(g)))


def _process_outcome(cell: Cell, output_dir, exitcode: int | None, timed_out: float | None) -> str:
    path = cell.results_path(output_dir)
    error = path.parent / "error.txt"
    if timed_out:
        why = f"timeout after {timed_out:g} s"
        path.parent.mkdir(parents=True, exist_ok=True)
        error.write_text(f"{why} (wall clock, process killed)\n")
        return f"failed: {why}"
    if path.is_file():
        return "done"
    if not error.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        error.write_text(f"cell process exited with code {exitcode} and left no results\n")
    return "failed: " + cell.failure(output_dir)


def _claim(cell: Cell, output_dir, rec: dict) -> tuple[CellLock | None, str | None]:
    """Lock the cell, then look again: ``(lock, None)`` to run it (a corrupt results file set aside,
    noted in ``rec``), or ``(None, status)`` when another run holds it or has just finished it."""
    lock = CellLock(cell.results_path(output_dir).parent)
    try:
        lock.acquire()
    except CellLocked as exc:  # held by another run: skipped; a broken lock file: failed, to fix by hand
        return None, f"skipped ({exc})" if str(exc).startswith("running elsewhere") else f"failed: {exc}"
    res, why = cell.read_results(output_dir)
    if res is not None:
        lock.release()
        return None, "skipped (done)"
    if why is not None:
        bad = set_aside(cell.results_path(output_dir))
        rec["note"] = f"the corrupt results file was set aside as {bad} ({why})"
    clean_partial(lock.path.parent)
    return lock, None


def _run_cell(cell: Cell, output_dir) -> str:
    """Train and evaluate one cell; a failure is written beside its results path, not raised."""
    from adlib.experiment import run_experiment

    path = cell.results_path(output_dir)
    try:
        run_experiment(cell.method, cell.config, paper=cell.paper, tag=cell.tag, output_dir=output_dir,
                       progress=False, **cell.run)
        return "done"
    except Exception as exc:  # a failed cell is recorded, the grid goes on
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "error.txt").write_text(traceback.format_exc())
        return f"failed: {type(exc).__name__}: {exc}"


def variant_view(results: dict, variant: str | None) -> dict | None:
    """The results as seen by a cell: its own metrics, or those of an evaluation variant (``None``
    when the run did not evaluate that variant)."""
    if variant is None:
        return results
    found = ((results.get("extra") or {}).get("variants") or {}).get(variant)
    if found is None:
        return None
    return {**results, "metrics": {k: {"value": v, "protocol": {"variant": variant, **found.get("overrides", {})}}
                                   for k, v in found["metrics"].items()}}


def collect(cfg: dict, profile: str = "small", output_dir: str | os.PathLike = "runs") -> list[dict]:
    """The finished cells' results (setting + metrics + weights + timings) for tables."""
    rows = []
    for cell in expand(cfg, profile):
        path = cell.results_path(output_dir)
        res, _ = cell.read_results(output_dir)  # corrupt files are left out (Cell.status names them)
        if res is not None:
            res = variant_view(res, cell.variant)
            if res is None:
                continue
            rows.append({"table": cell.table, "setting": cell.setting, "method": cell.method, "category": cell.run["category"],
                         "seed": cell.run["seed"], "metrics": {k: v["value"] for k, v in res["metrics"].items()},
                         "weights": res["weights"], "timings": res["timings"], "path": str(path), "variant": cell.variant})
    return rows
