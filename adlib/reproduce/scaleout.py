"""Submit the same notebook jobs to an existing engine when one machine is not enough.

    pip install 'adlib[scaleout]'        # submitit (SLURM / local executor) and Ray

    jobs = jobs_for(load_config("rd_variance_loss/table1"), "full", "/shared/runs")
    submit_submitit(jobs, "/shared/submitit", executor="slurm",
                    slurm_kwargs={"slurm_partition": "gpu", "cpus_per_task": 8}, timeout_s=4 * 3600)
    submit_ray(jobs, address="auto", num_gpus_per_job=1)          # an existing Ray cluster
    submit_ray(jobs)                                              # a local Ray instance

Every task calls :func:`adlib.reproduce.notebook_runner.run_group`, the code path of
:func:`~adlib.reproduce.notebook_runner.run_jobs`: finished cells are skipped, missing data or
weights give ``not run: ...``, failures leave ``error.txt``; the engine only places the tasks
(one GPU each; the engine sets ``CUDA_VISIBLE_DEVICES``). The output folder must be visible to
the workers (a shared file system) and adlib must be installed there. Both functions wait for
the tasks and return one status dict per job, in order. The engines are imported only here,
inside the functions.
"""

from __future__ import annotations

import math
import os

from .jobs import Job, group_jobs
from .notebook_runner import run_group

_HINT = "pip install 'adlib[scaleout]'"


def _todo(jobs: list[Job]) -> tuple[dict, list[list[Job]]]:
    """Records for jobs already done (not submitted) and the groups left to submit."""
    recs, todo = {}, []
    for group in group_jobs(jobs):
        left = [j for j in group if not j.done()]
        for j in group:
            if j.done():
                recs[id(j)] = j.record("skipped (done)")
        if left:
            todo.append(left)
    return recs, todo


def _collect(recs: dict, group: list[Job], result_fn) -> None:
    try:
        out = result_fn()
    except Exception as exc:  # noqa: BLE001 - a failed task is a failed cell; the others go on
        out = [j.record(f"failed: {type(exc).__name__}: {exc}") for j in group]
    for j, rec in zip(group, out):
        j.status = rec["status"]
        recs[id(j)] = rec


def submit_submitit(jobs: list[Job], folder: str | os.PathLike, executor: str = "local",
                    slurm_kwargs: dict | None = None, timeout_s: float | None = None) -> list[dict]:
    """Run the jobs through submitit: ``executor="local"`` (its LocalExecutor, for tests and one
    box), ``"slurm"`` (``AutoExecutor(cluster="slurm")``; ``slurm_kwargs`` go to
    ``update_parameters``, e.g. ``slurm_partition``, ``gpus_per_node`` (default 1),
    ``cpus_per_task``, ``mem_gb``) or ``"debug"`` (in-process). The engine's time limit is the
    per-cell ``timeout_s`` plus 10 minutes (7 days when there is none)."""
    try:
        import submitit
    except ImportError as exc:
        raise ImportError(f"submit_submitit needs submitit: {_HINT}") from exc
    recs, todo = _todo(jobs)
    limit = max((t for t in [timeout_s, *(j.timeout_s for g in todo for j in g)] if t), default=None)
    params = {"timeout_min": math.ceil(limit / 60) + 10 if limit else 7 * 24 * 60}
    if executor == "local":
        ex = submitit.LocalExecutor(folder=folder)
    elif executor == "slurm":
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        params["gpus_per_node"] = 1
    elif executor == "debug":
        ex = submitit.DebugExecutor(folder=folder)
    else:
        raise ValueError(f"executor must be 'local', 'slurm' or 'debug', not {executor!r}")
    params.update(slurm_kwargs or {})
    ex.update_parameters(**params)
    submitted = [(group, ex.submit(run_group, group, timeout_s)) for group in todo]
    for group, task in submitted:
        _collect(recs, group, task.result)
    return [recs[id(j)] for j in jobs]


def submit_ray(jobs: list[Job], address: str | None = None, num_gpus_per_job: float = 0, num_cpus_per_job: float = 1,
               timeout_s: float | None = None, init_kwargs: dict | None = None) -> list[dict]:
    """Run the jobs as Ray tasks (``ray.remote`` over :func:`run_group`), ``num_gpus_per_job`` GPUs each.

    ``address``: an existing cluster (``"auto"``, ``"ray://head:10001"``) or None for a local
    instance; an already initialised Ray is used as is. ``init_kwargs`` go to ``ray.init``.
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"submit_ray needs Ray: {_HINT} (or pip install 'ray[default]')") from exc
    recs, todo = _todo(jobs)
    if not ray.is_initialized():
        ray.init(address=address, **(init_kwargs or {}))
    task = ray.remote(num_gpus=num_gpus_per_job, num_cpus=num_cpus_per_job, max_retries=0)(run_group)
    refs = [(group, task.remote(group, timeout_s)) for group in todo]
    for group, ref in refs:
        _collect(recs, group, lambda ref=ref: ray.get(ref))
    return [recs[id(j)] for j in jobs]
