"""``fit``: the training loop every method reuses (steps or epochs, AMP, checkpoints, resume, selection).

The loop itself is short; it draws batches from a :class:`~adlib.engine.batches.BatchSource`,
writes and resumes checkpoints through a :class:`~adlib.engine.checkpoint.Checkpointer` and
validates / keeps the best state through a :class:`~adlib.engine.selection.Selector`.
"""

from __future__ import annotations

import numbers
import time

import torch
from tqdm.auto import tqdm

from .batches import BatchSource, resolve_batch_policy, steps_per_epoch
from .checkpoint import Checkpointer
from .env import amp_name, autocast, ensure_threads, resolve_amp, resolve_channels_last, resolve_device, synchronize
from .heartbeat import Heartbeat
from .seed import seed_everything
from .selection import Selector
from .state import FitContext, FitResult, StopFit, configure_optimizer, flush_losses


def positive_int(value) -> bool:
    """True for an integer >= 1 (``True``, ``0.5``, ``2.0``, ``"3"`` are not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _check_counts(**counts) -> None:
    bad = {k: v for k, v in counts.items() if not positive_int(v)}
    if bad:
        raise ValueError("fit: " + ", ".join(f"{k} must be a positive integer, got {v!r}" for k, v in bad.items()))


def fit(method, train_data, *, steps: int | None = None, epochs: int | None = None, batch_size: int = 16,
        val_data=None, eval_every: int | None = None, device="auto", amp="auto", channels_last="auto",
        seed: int = 0, deterministic: bool = True, checkpoint_dir=None, checkpoint_every: int | None = None,
        resume=False, ckpt_selection: str = "last", selection_metric="auto", allow_test_selection: bool = False,
        on_gpu_cache="auto", num_workers="auto", shuffle: bool = True, drop_last: bool = False,
        grad_accum: int = 1, grad_clip: float | None = None, progress: bool = True, log_every: int = 10,
        callbacks=None, eval_kwargs: dict | None = None, calibration_data=None) -> FitResult:
    """Train ``method`` (an :class:`adlib.methods.AnomalyMethod`) on ``train_data`` for ``steps``
    optimizer batches or ``epochs`` passes.

    Device "auto" = CUDA if available; on CUDA bf16 autocast and channels-last model/inputs by
    default (off on CPU; explicit values override). ``on_gpu_cache`` keeps the whole uint8
    training set on the device; ``num_workers``: DataLoader workers. Both "auto" by default
    (:func:`adlib.engine.batches.resolve_batch_policy`: on the CPU no cache and no workers).
    ``val_data`` is evaluated every ``eval_every`` steps (default: at the end; every epoch for
    ``ckpt_selection="best_val"``) with RNG states preserved, so validation never changes the
    training trajectory. ``selection_metric``: ``"auto"`` (image AUROC when ``val_data`` has
    anomalies, else ``"val_loss"``), a metric name, a tuple of names (mean) or a callable
    ``EvalResult -> float`` (higher is better, except ``val_loss``). A test split as ``val_data``
    needs ``allow_test_selection=True`` and is recorded as ``best_on_test``.
    ``checkpoint_dir``: ``last.pt`` every ``checkpoint_every`` steps and at the end (``best.pt``
    on improvement); ``resume=True`` (or a path) continues exactly. ``callbacks``: callables
    ``cb(event, info)`` with events ``"log"``, ``"eval"``, ``"end"``; raise :class:`StopFit` to stop.
    ``calibration_data`` (a held-out normal split, ``FitData.calibration``) is handed to the method's
    hooks in the :class:`FitContext`.
    """
    t_wall = time.perf_counter()
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= or epochs=")
    ensure_threads()
    selector = Selector(val_data, ckpt_selection, selection_metric, allow_test_selection, eval_kwargs)
    _check_counts(**({"steps": steps} if steps is not None else {"epochs": epochs}), batch_size=batch_size,
                  grad_accum=grad_accum, log_every=log_every, eval_every=eval_every or 1,
                  checkpoint_every=checkpoint_every or 1)
    if checkpoint_every and checkpoint_every % grad_accum:
        raise ValueError(f"checkpoint_every={checkpoint_every} must be a multiple of grad_accum={grad_accum}")
    dev = resolve_device(device)
    amp_dtype, cl = resolve_amp(amp, dev), resolve_channels_last(channels_last, dev)
    on_gpu_cache, num_workers = resolve_batch_policy(train_data, dev, on_gpu_cache, num_workers)
    n = len(train_data)
    spe = steps_per_epoch(n, batch_size, drop_last)
    training_free = bool(getattr(method, "training_free", False))  # e.g. knn: on_fit_start builds its memory
    total = 0 if training_free else int(steps) if steps is not None else int(epochs) * spe
    if eval_every is None:
        eval_every = selector.default_eval_every(spe, total)
    callbacks = list(callbacks or [])

    seed_everything(seed, deterministic)
    method.to(dev)
    if cl:
        method.to(memory_format=torch.channels_last)
    source = BatchSource(train_data, dev, cl, seed=seed, on_gpu_cache=on_gpu_cache, num_workers=num_workers,
                         progress=progress)
    ctx = FitContext(dev, amp_dtype, cl, total, spe, batch_size, train_data, val_data, source, calibration_data)
    method.on_fit_start(ctx)
    optimizer, scheduler, interval = (None, None, "step") if training_free else configure_optimizer(method, total, spe)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16 and dev.type == "cuda")
    ckpt = Checkpointer(checkpoint_dir, {"seed": int(seed), "batch_size": int(batch_size), "n_train": n,
                                         "drop_last": bool(drop_last), "grad_accum": int(grad_accum),
                                         "shuffle": bool(shuffle)})
    history: dict = {}
    start, resumed_from, prior_train_s = 0, None, 0.0
    resumed = ckpt.resume(resume, method, optimizer, scheduler, scaler)
    if resumed is not None:
        start = resumed_from = resumed.step
        history, prior_train_s = resumed.history, resumed.train_s
        selector.restore(resumed.val_history, resumed.best, resumed.best_state)

    def save_last(step):
        ckpt.save_last(method, optimizer, scheduler, scaler, step=step, history=history,
                       val_history=selector.val_history, best=selector.best, train_s=prior_train_s + train_s)

    eval_kw = {"batch_size": batch_size, "device": dev, "amp": amp_dtype, "channels_last": cl}
    method.train()
    bar = tqdm(total=total, initial=start, desc=f"fit {getattr(method, 'name', '')}".strip(), unit="step",
               disable=not progress, dynamic_ncols=True)
    heartbeat = Heartbeat(f"fit {getattr(method, 'name', '')}".strip(), total)  # $ADLIB_HEARTBEAT_S: batch-job logs
    heartbeat.beat(start, force=True)  # set up: a run stuck before its first step says so
    pending: list = []
    images, train_s, step = 0, 0.0, start
    t0 = time.perf_counter()
    try:
        for i, batch in enumerate(source(source.sampler(batch_size, total, start, shuffle, drop_last)), start):
            with autocast(dev, amp_dtype):
                terms = method.training_step(batch)
            loss = terms.get("loss") if isinstance(terms, dict) else None
            if not torch.is_tensor(loss) or not loss.requires_grad:
                raise TypeError(f"{type(method).__name__}.training_step must return a dict whose 'loss' is a tensor "
                                f"with gradients, got {type(loss).__name__}")
            scaler.scale(loss / grad_accum if grad_accum > 1 else loss).backward()
            done = i + 1
            if done % grad_accum == 0 or done == total:
                if grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None and interval == "step":
                    scheduler.step()
            if scheduler is not None and interval == "epoch" and done % spe == 0:
                scheduler.step()
            pending.append({k: (v.detach().float().reshape(()) if torch.is_tensor(v) else torch.tensor(float(v), device=dev))
                            for k, v in terms.items()})
            images += int(batch["image"].shape[0])
            step = done
            bar.update(1)
            heartbeat.beat(done)
            do_eval = selector.active and (done % eval_every == 0 or done == total)
            do_ckpt = ckpt.dir is not None and checkpoint_every and done % checkpoint_every == 0
            if done % log_every == 0 or done == total or do_eval or do_ckpt:
                last = flush_losses(pending, history)
                bar.set_postfix({"ep": f"{done / spe:.2f}", **{k: f"{v:.4g}" for k, v in last.items()}}, refresh=False)
                for cb in callbacks:
                    cb("log", {"step": done, "epoch": done / spe, "losses": last})
            if do_eval or do_ckpt:
                synchronize(dev)
                train_s += time.perf_counter() - t0
                if do_eval:
                    rec, new_best = selector.validate(method, done, **eval_kw)
                    if new_best:
                        ckpt.save_best(method, step=done, best=selector.best)
                    method.train()
                    for cb in callbacks:
                        cb("eval", rec)
                if do_ckpt:
                    save_last(done)
                t0 = time.perf_counter()
    except StopFit:
        pass
    finally:
        bar.close()
    if pending:
        flush_losses(pending, history)
    synchronize(dev)
    train_s += time.perf_counter() - t0
    save_last(step)
    final_state = selector.load_best(method, step)
    method.on_fit_end(ctx)
    result = FitResult(
        history=history, val_history=selector.val_history, steps=step, steps_per_epoch=spe, batch_size=batch_size,
        seed=seed, device=str(dev), amp=amp_name(amp_dtype), channels_last=cl, on_gpu_cache=source.cached,
        **selector.record(), train_s=prior_train_s + train_s, wall_s=time.perf_counter() - t_wall,
        images_per_s=round(images / train_s, 2) if train_s > 0 and images else None,
        resumed_from_step=resumed_from, checkpoint_path=str(ckpt.last_path) if ckpt.dir is not None else None,
        final_state=final_state,
        extra_protocol={"val_split": selector.val_split,
                        "val_on_test": bool(allow_test_selection and val_data is not None),
                        "grad_accum": grad_accum, "deterministic": deterministic, "total_steps": total})
    for cb in callbacks:
        cb("end", result)
    return result
