"""The training / evaluation engine every method reuses.

- :func:`fit` trains a method (steps or epochs; bf16 autocast and channels-last on CUDA; optional
  on-GPU dataset cache; periodic validation and checkpoint selection; exact resume).
- :func:`evaluate_method` predicts a whole dataset and computes every metric with its protocol.
- :func:`build_results` / :func:`validate_results` / :func:`write_results`: the versioned results JSON.
- :func:`export_maps` / :func:`evaluate_saved_maps`: maps on disk in the official evaluation scripts'
  layout, written for those scripts or read back (from adlib or another code base) and evaluated.
- :func:`seed_everything` (:mod:`.seed`), :func:`make_loader` / :class:`StepSampler` /
  :func:`resolve_batch_policy` (:mod:`.batches`), :func:`environment_report`, checkpoint helpers.

The engine calls the hooks of :class:`adlib.methods.AnomalyMethod` directly (every one has a
default there): ``checkpoint_state()`` / ``load_checkpoint_state(state)``, ``on_fit_start(ctx)`` /
``on_fit_end(ctx)`` (a :class:`FitContext`), ``configure_optimizer(total_steps=, steps_per_epoch=)``
returning an optimizer, ``(optimizer, scheduler)`` or ``{"optimizer", "scheduler", "interval"}``.
"""

from .checkpoint import load_checkpoint, load_method_state, load_weights, method_state, save_checkpoint
from .env import environment_report, git_commit, resolve_amp, resolve_channels_last, resolve_device
from .evaluation import EvalResult, evaluate_method, validation_loss
from .loop import fit
from .results import (SCHEMA_VERSION, build_results, data_info, per_defect_table, protocol_from, read_results,
                      timings_from, validate_results, write_results)
from .saved_maps import evaluate_saved_maps, export_maps
from .batches import StepSampler, make_loader, resolve_batch_policy, worker_init_fn
from .seed import preserve_rng, seed_everything
from .state import FitContext, FitResult, StopFit

__all__ = [
    "EvalResult", "FitContext", "FitResult", "SCHEMA_VERSION", "StepSampler", "StopFit", "build_results", "data_info",
    "environment_report", "evaluate_method", "evaluate_saved_maps", "export_maps", "fit", "git_commit", "load_checkpoint", "load_method_state",
    "load_weights", "make_loader", "method_state", "per_defect_table", "preserve_rng", "protocol_from",
    "read_results", "resolve_amp", "resolve_batch_policy", "resolve_channels_last", "resolve_device", "save_checkpoint", "seed_everything",
    "timings_from", "validate_results", "validation_loss", "worker_init_fn", "write_results",
]
