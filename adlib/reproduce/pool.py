"""Many tables' cells at once on a CPU: a few long-lived worker processes share one queue (issue 22).

``adlib reproduce --all`` trains about a hundred small cells. One after another in one process they
leave cores idle (a 64-px model gains little from a second thread); in a fresh process each they pay
torch's import and the dataset decode every time. :func:`run_tables` instead starts ``workers``
processes with ``threads`` torch threads each and its own :func:`~adlib.data.base.shared_decoding`
store, and feeds them the cells of every table from one queue, the largest (real data) first. The
cells, their locks, skips and failures are :mod:`adlib.reproduce.grid`'s; each results file records
the thread count its process used.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .grid import _claim, _run_cell, expand, finish_status, plan_cells
from .progress import CellProgress, cell_label

_WORKER_STORE = None  # the worker's shared_decoding block, open for the process's life


def cpu_workers(cpu_count: int | None = None) -> tuple[int, int]:
    """``(workers, threads each)`` for a CPU: one single-threaded worker per core up to 4 cores, then
    workers of two threads (small models scale better across processes than across threads)."""
    n = max(1, cpu_count or os.cpu_count() or 1)
    workers = n if n <= 4 else n // 2
    return workers, max(1, n // workers)


def _init_worker(threads: int) -> None:
    global _WORKER_STORE
    from adlib.engine.env import THREADS_ENV, set_threads

    os.environ[THREADS_ENV] = str(threads)  # run_experiment sets it again from here
    set_threads(threads, THREADS_ENV)
    from adlib.data.base import shared_decoding

    _WORKER_STORE = shared_decoding()
    _WORKER_STORE.__enter__()


def _train_size(run: dict, sizes: dict) -> int:
    """The number of training images of a cell's dataset (0 when it cannot be opened), once per category."""
    key = (run.get("dataset"), run.get("category"), str(run.get("root")))
    if key not in sizes:
        try:
            from adlib.data.catalog import open_dataset

            sizes[key] = len(open_dataset(run["dataset"], run["category"], "train", root=run.get("root")))
        except Exception:  # noqa: BLE001 - only an ordering hint: the cell itself reports the error
            sizes[key] = 0
    return sizes[key]


def _size_key(cell, sizes: dict | None = None) -> tuple:
    """Largest first: real data before synthetic, then larger images, then more training images seen
    (epochs x training images, or steps x batch size), so that long cells do not start last."""
    run = cell.run
    sizes = {} if sizes is None else sizes
    seen = (run.get("steps") or 0) * (run.get("batch_size") or 1) or (run.get("epochs") or 0) * _train_size(run, sizes)
    return (run.get("dataset") == "synthetic", -int(run.get("image_size") or 0), -seen)


def run_tables(tables: list[tuple[dict, str]], output_dir, workers: int, threads: int = 1,
               progress: bool = True) -> list[list[dict]]:
    """Run every cell of each ``(config, profile)`` not yet done, ``workers`` processes at a time.
    Returns one status list per table, as :func:`~adlib.reproduce.grid.run_grid` would."""
    import multiprocessing

    plans, todo = [], {}
    for cfg, profile in tables:
        before, cells = set(todo), expand(cfg, profile)
        status, _, shared = plan_cells(cells, output_dir, todo)  # todo grows
        order = {str(c.results_path(output_dir)): k for k, c in reversed(list(enumerate(cells)))}
        plans.append((status, shared, [p for p in todo if p not in before], order))
    sizes: dict = {}
    queue = sorted(todo.values(), key=lambda item: _size_key(item[0], sizes))
    bar = CellProgress(len(queue), "cells of every table", enabled=progress)
    ran: dict = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        running = {}
        try:
            while queue or running:
                while queue and len(running) < max(1, workers):
                    cell, rec = queue.pop(0)
                    lock, st = _claim(cell, output_dir, rec)
                    if lock is None:
                        ran[rec["path"]] = st
                        continue
                    bar.start(cell_label(cell))
                    running[pool.submit(_run_cell, cell, output_dir)] = (cell, rec, lock)
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    cell, rec, lock = running.pop(fut)
                    lock.release()
                    try:
                        st = fut.result()
                    except BrokenProcessPool as exc:
                        st = f"failed: the worker process died ({exc})"
                    ran[rec["path"]] = st
                    bar.end(cell_label(cell), st)
        finally:  # interrupted: nothing new starts, no locks left behind
            if running:
                pool.shutdown(wait=False, cancel_futures=True)
            for _, _, lock in running.values():
                lock.release()
    bar.close()
    return [sorted(finish_status(status + [{**todo[p][1], "status": ran[p]} for p in owned], shared, ran),
                   key=lambda st: order[st["path"]]) for status, shared, owned, order in plans]
