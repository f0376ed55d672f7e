"""Execute notebook jobs with papermill: resumable, one job per GPU (or one at a time on the CPU).

    jobs = jobs_for(load_config("rd_variance_loss/table4"), "small", "runs")
    status = run_jobs(jobs, devices="auto", timeout_s=3600)   # one status dict per job

Each notebook runs in its own process (``papermill.execute_notebook`` with ``cwd`` = the cell's
folder), so a cell over its wall-clock limit is killed with its kernel (status ``failed: timeout
after N s``) and a failing cell leaves ``error.txt`` beside its results path while the grid goes
on. Statuses: ``done``, ``skipped (done)``, ``not run: <what is missing>``, ``failed: <why>``.
Cells that are the same notebook run (e.g. the rd and rd_var cells of Table I: the notebook
trains both) share one execution.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from adlib.fileio import atomic_copy

from .cellstate import CellLock, CellLocked, clean_partial, set_aside
from .devices import device_env, resolve_devices
from .jobs import Job, group_jobs, preflight

MARK = "ADLIB-FAILED: "
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WORKER = ("import sys; from adlib.reproduce.notebook_runner import _worker_main; "
           "sys.exit(_worker_main(sys.argv[1:]))")


def _secs(t: float) -> str:
    return f"{t:g}"


def _worker_main(argv: list[str]) -> int:
    """In the job's process: execute the notebook; on failure write error.txt and a one-line summary."""
    spec = json.loads(argv[0])
    try:
        import papermill

        papermill.execute_notebook(spec["notebook"], spec["output"], parameters=spec["parameters"], cwd=spec["cwd"],
                                   kernel_name=spec["kernel_name"], execution_timeout=spec["timeout"],
                                   progress_bar=False, log_output=False)
        return 0
    except BaseException as exc:  # noqa: BLE001 - everything is a failed cell, reported to the parent
        name = type(exc).__name__
        if "Timeout" in name and spec["timeout"]:
            summary = f"timeout after {_secs(spec['timeout'])} s"
        elif hasattr(exc, "ename"):  # PapermillExecutionError: the notebook's own exception
            summary = f"{exc.ename}: {exc.evalue}"
        else:
            summary = f"{name}: {exc}"
        detail = _ANSI.sub("", str(exc)) if hasattr(exc, "ename") else traceback.format_exc()
        Path(spec["error"]).write_text(f"{summary}\n\n{detail}\n", encoding="utf-8")
        print(MARK + " ".join(summary.split())[:500], file=sys.stderr, flush=True)
        return 3


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the job's process, its kernel (own session, so not in the group) and their children."""
    try:
        import psutil

        procs = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing or process gone
        procs = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):
        proc.kill()
    for p in procs:
        try:
            p.kill()
        except Exception:  # noqa: BLE001
            pass
    proc.wait()


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.is_file() else ""


def _execute(job: Job, timeout_s: float | None, env: dict, kernel_name: str) -> str | None:
    """Run the job's notebook in a subprocess; None when it succeeded, else ``failed: ...``."""
    job.cell_dir.mkdir(parents=True, exist_ok=True)
    job.error_path.unlink(missing_ok=True)
    shutil.rmtree(job.notebook_output_dir, ignore_errors=True)  # stale results of an earlier attempt
    spec = {"notebook": str(job.notebook), "output": str(job.output_notebook), "parameters": job.parameters,
            "cwd": str(job.cell_dir), "kernel_name": kernel_name, "error": str(job.error_path),
            "timeout": max(1, math.ceil(timeout_s)) if timeout_s else None}
    log = job.cell_dir / "papermill.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(spec, default=str)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=job.cell_dir, env={**os.environ, **env},
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            why = f"timeout after {_secs(timeout_s)} s"
            job.error_path.write_text(f"{why} (wall clock, process killed)\n\nlog tail:\n{_tail(log)}\n")
            return f"failed: {why}"
    if rc == 0:
        return None
    text = _tail(log)
    lines = [ln[len(MARK):] for ln in text.splitlines() if ln.startswith(MARK)]
    if not job.error_path.is_file():
        job.error_path.write_text(f"job process exited with code {rc}\n\nlog tail:\n{text}\n")
    return "failed: " + (lines[-1] if lines else f"job process exited with code {rc}")


def _harvest(job: Job, source: Path) -> str | None:
    """Copy the results the notebook wrote for this cell's method to the cell's results path."""
    from adlib.experiment import category_name

    found = []
    for f in sorted(source.rglob("results.json")) if source.is_dir() else []:
        try:
            found.append((f, json.loads(f.read_text())))
        except (OSError, ValueError):
            continue
    run = job.cell.run
    match = [f for f, d in found if d.get("method") == job.cell.method and d.get("seed") == run["seed"]
             and d.get("category") == category_name(run["category"])]
    if not match and len(found) == 1:
        match = [found[0][0]]
    if not match:
        return f"failed: the notebook wrote no results for method {job.cell.method!r} under {source}"
    job.results_path.parent.mkdir(parents=True, exist_ok=True)
    for extra in match[0].parent.glob("*.png"):  # figures saved beside the results travel with them
        shutil.copyfile(extra, job.results_path.parent / extra.name)
    if (match[0].parent / "figures").is_dir():
        shutil.copytree(match[0].parent / "figures", job.results_path.parent / "figures", dirs_exist_ok=True)
    atomic_copy(match[0], job.results_path)  # last: the results file marks the cell done
    return None


def run_group(jobs: list[Job], timeout_s: float | None = None, device=None, kernel_name: str = "python3") -> list[dict]:
    """Run one notebook execution for jobs that share it (see :func:`adlib.reproduce.jobs.group_jobs`).

    Done jobs are skipped, jobs failing :func:`preflight` are ``not run: ...``, the others run once
    and get their results copied to their own results paths. The single code path behind
    :func:`run_jobs` and the submitit / Ray submissions. Returns one status dict per job.
    """
    recs: dict[int, dict] = {}
    pending, locks = [], []
    for j in jobs:
        if j.done():
            recs[id(j)] = j.record("skipped (done)")
        elif (missing := preflight(j)) is not None:
            recs[id(j)] = j.record(missing)
        else:
            lock, status = _claim(j)
            if lock is None:
                recs[id(j)] = j.record(status)
            else:
                locks.append(lock)
                pending.append(j)
    try:
        _run_pending(pending, recs, timeout_s, device, kernel_name)
    finally:  # Ctrl-C included: no lock left behind
        for lock in locks:
            lock.release()
    return [recs[id(j)] for j in jobs]


def _claim(job: Job):
    """Lock the job's cell and look again: ``(lock, None)`` to run it (a corrupt results file set aside),
    else ``(None, status)`` (another run holds it, or finished it meanwhile)."""
    lock = CellLock(job.cell_dir)
    try:
        lock.acquire()
    except CellLocked as exc:  # held by another run: skipped; a broken lock file: failed, to fix by hand
        return None, f"skipped ({exc})" if str(exc).startswith("running elsewhere") else f"failed: {exc}"
    if job.done():
        lock.release()
        return None, "skipped (done)"
    if job.results_path.is_file():
        set_aside(job.results_path)
    clean_partial(job.cell_dir)
    return lock, None


def _run_pending(pending: list[Job], recs: dict, timeout_s, device, kernel_name) -> None:
    if pending:
        first, t0 = pending[0], time.perf_counter()
        err = _execute(first, timeout_s if timeout_s is not None else first.timeout_s, device_env(device), kernel_name)
        secs = round(time.perf_counter() - t0, 1)
        for j in pending:
            status = err or _harvest(j, first.notebook_output_dir) or "done"
            if status != "done" and j is not first:
                j.cell_dir.mkdir(parents=True, exist_ok=True)
                j.error_path.write_text(f"{status}\n(shared run: {first.cell_dir})\n\n{_tail(first.error_path)}")
            elif status != "done" and not j.error_path.is_file():
                j.error_path.write_text(status + "\n")
            recs[id(j)] = j.record(status, seconds=secs, device=None if device is None else str(device),
                                   notebook=str(first.output_notebook))


def run_jobs(jobs: list[Job], devices="auto", timeout_s: float | None = None, progress: bool = True,
             kernel_name: str = "python3") -> list[dict]:
    """Run every job not done yet, one at a time per device; returns one status dict per job (in order).

    ``timeout_s``: wall-clock limit per notebook run (default: the config's ``timeout_s``, else none).
    """
    from .progress import CellProgress, cell_label

    devs = resolve_devices(devices)
    groups = group_jobs(jobs)
    free: queue.Queue = queue.Queue()
    for d in devs:
        free.put(d)

    desc = f"{jobs[0].cell.paper} table {jobs[0].cell.table}" if jobs else "jobs"
    bar = CellProgress(len(jobs), desc, enabled=progress)

    def label(group):
        return cell_label(group[0].cell) + (f" (+{len(group) - 1} sharing its run)" if len(group) > 1 else "")

    def work(group):
        dev = free.get()
        if not all(j.done() for j in group):
            bar.start(label(group))
        try:
            return run_group(group, timeout_s, dev, kernel_name)
        except Exception as exc:  # noqa: BLE001 - the grid goes on
            return [j.record(f"failed: {type(exc).__name__}: {exc}") for j in group]
        finally:
            free.put(dev)

    recs: dict[int, dict] = {}
    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=len(devs)) as pool:
        futures = {pool.submit(work, g): g for g in groups}
        for fut in as_completed(futures):
            for j, rec in zip(futures[fut], fut.result()):
                recs[id(j)] = rec
                key = rec["status"].split(":")[0].split(" (")[0]
                counts[key] = counts.get(key, 0) + 1
            if bar.bar is not None:
                bar.bar.set_postfix(counts, refresh=False)
            outcome = ", ".join(dict.fromkeys(recs[id(j)]["status"] for j in futures[fut]))
            bar.end(label(futures[fut]), outcome, n=len(futures[fut]))
    bar.close()
    return [recs[id(j)] for j in jobs]
