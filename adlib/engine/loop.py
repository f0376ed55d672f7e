"""``fit``: the training loop every method reuses (steps or epochs, AMP, checkpoints, resume, selection)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import BEST, LAST, cpu_copy, load_checkpoint, load_method_state, method_state, restore, save_checkpoint
from .env import amp_name, autocast, move_batch, resolve_amp, resolve_channels_last, resolve_device, synchronize
from .evaluation import evaluate_method, validation_loss
from .seed import (DeviceCache, StepSampler, device_cache_supported, make_loader, preserve_rng, rng_state,
                   seed_everything, set_rng_state, steps_per_epoch)
from .state import (CKPT_SELECTIONS, FitContext, FitResult, StopFit, configure_optimizer, dataset_labels,
                    flush_losses, metric_name)


def fit(method, train_data, *, steps: int | None = None, epochs: int | None = None, batch_size: int = 16,
        val_data=None, eval_every: int | None = None, device="auto", amp="auto", channels_last="auto",
        seed: int = 0, deterministic: bool = True, checkpoint_dir=None, checkpoint_every: int | None = None,
        resume=False, ckpt_selection: str = "last", selection_metric="auto", allow_test_selection: bool = False,
        on_gpu_cache: bool = False, num_workers: int = 0, shuffle: bool = True, drop_last: bool = False,
        grad_accum: int = 1, grad_clip: float | None = None, progress: bool = True, log_every: int = 10,
        callbacks=None, eval_kwargs: dict | None = None) -> FitResult:
    """Train ``method`` on ``train_data`` for ``steps`` optimizer batches or ``epochs`` passes.

    Device "auto" = CUDA if available; on CUDA bf16 autocast and channels-last model/inputs by
    default (off on CPU; explicit values override). ``on_gpu_cache`` keeps the whole uint8
    training set on the device. ``val_data`` is evaluated every ``eval_every`` steps (default: at
    the end; every epoch for ``ckpt_selection="best_val"``) with RNG states preserved, so
    validation never changes the training trajectory. ``selection_metric``: ``"auto"`` (image AUROC
    when ``val_data`` has anomalies, else ``"val_loss"``), a metric name, a tuple of names (mean)
    or a callable ``EvalResult -> float`` (higher is better, except ``val_loss``). A test split as
    ``val_data`` needs ``allow_test_selection=True`` and is recorded as ``best_on_test``.
    ``checkpoint_dir``: ``last.pt`` every ``checkpoint_every`` steps and at the end (``best.pt``
    on improvement); ``resume=True`` (or a path) continues exactly. ``callbacks``: callables
    ``cb(event, info)`` with events ``"log"``, ``"eval"``, ``"end"``; raise :class:`StopFit` to stop.
    """
    t_wall = time.perf_counter()
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= or epochs=")
    if ckpt_selection not in CKPT_SELECTIONS:
        raise ValueError(f"ckpt_selection must be one of {CKPT_SELECTIONS}, got {ckpt_selection!r}")
    if ckpt_selection == "best_val" and val_data is None:
        raise ValueError("ckpt_selection='best_val' needs val_data")
    val_split = getattr(val_data, "split", None)
    if val_data is not None and val_split == "test" and not allow_test_selection:
        raise ValueError("val_data is a test split: selecting or monitoring on the test set inflates results. "
                         "Pass a validation split, or allow_test_selection=True to do it knowingly "
                         "(recorded as ckpt_selection='best_on_test').")
    bad = {k: v for k, v in (("batch_size", batch_size), ("grad_accum", grad_accum), ("log_every", log_every),
                             ("eval_every", eval_every or 1), ("checkpoint_every", checkpoint_every or 1)) if int(v) < 1}
    if bad:
        raise ValueError(f"these must be positive integers: {bad}")
    if checkpoint_every and checkpoint_every % grad_accum:
        raise ValueError(f"checkpoint_every={checkpoint_every} must be a multiple of grad_accum={grad_accum}")
    dev = resolve_device(device)
    amp_dtype, cl = resolve_amp(amp, dev), resolve_channels_last(channels_last, dev)
    n = len(train_data)
    spe = steps_per_epoch(n, batch_size, drop_last)
    total = int(steps) if steps is not None else int(epochs) * spe
    if eval_every is None and val_data is not None:
        eval_every = spe if ckpt_selection == "best_val" else total
    metric = selection_metric
    if val_data is not None and metric == "auto":
        metric = "image_auroc" if any(dataset_labels(val_data)) else "val_loss"
    maximize = metric != "val_loss"
    callbacks = list(callbacks or [])
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    seed_everything(seed, deterministic)
    method.to(dev)
    if cl:
        method.to(memory_format=torch.channels_last)
    cache = None
    if on_gpu_cache:
        if device_cache_supported(train_data):
            cache = DeviceCache(train_data, dev, progress=progress)
        else:
            warnings.warn(f"on_gpu_cache: {type(train_data).__name__} is not a plain AnomalyDataset with a fixed "
                          "image size; using a DataLoader instead", stacklevel=2)

    def source(sampler):
        if cache is not None:
            for idx in sampler:
                yield move_batch(cache.batch(idx), dev, cl)
        else:
            for b in make_loader(train_data, seed=seed, num_workers=num_workers, device=dev, batch_sampler=sampler):
                yield move_batch(b, dev, cl)

    ctx = FitContext(dev, amp_dtype, cl, total, spe, batch_size, train_data, val_data, source)
    if callable(getattr(method, "on_fit_start", None)):
        method.on_fit_start(ctx)
    optimizer, scheduler, interval = configure_optimizer(method, total, spe)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16 and dev.type == "cuda")
    fit_args = {"seed": int(seed), "batch_size": int(batch_size), "n_train": n, "drop_last": bool(drop_last),
                "grad_accum": int(grad_accum), "shuffle": bool(shuffle)}
    history: dict = {}
    val_history: list = []
    best: dict = {"step": None, "value": None}
    best_state = None
    start = 0
    resumed_from = None
    prior_train_s = 0.0
    if resume:
        path = Path(resume) if not isinstance(resume, bool) else (ckdir / LAST if ckdir is not None else None)
        if path is None:
            raise ValueError("resume=True needs checkpoint_dir (or pass resume=<path to last.pt>)")
        if path.is_file():
            ck = load_checkpoint(path)
            saved = ck.get("fit_args", {})
            diff = {k: (saved.get(k), v) for k, v in fit_args.items() if saved.get(k) != v}
            if diff:
                raise ValueError(f"cannot resume {path}: it was trained with different settings (saved, now): {diff}")
            start = resumed_from = restore(method, ck, optimizer, scheduler, scaler)
            history, val_history = ck["history"], ck.get("val_history", [])
            best = ck.get("best", best)
            prior_train_s = float(ck.get("train_s", 0.0))
            if best.get("step") is not None and (path.parent / BEST).is_file():
                best_state = load_checkpoint(path.parent / BEST)["model"]
            set_rng_state(ck["rng"])

    def save_last(step):
        if ckdir is not None:
            save_checkpoint(ckdir / LAST, method, optimizer, scheduler, scaler, step=step, rng=rng_state(),
                            history=history, val_history=val_history, best=best, fit_args=fit_args,
                            train_s=prior_train_s + train_s)

    def validate(step) -> dict:
        nonlocal best_state
        rec: dict = {"step": step}
        kw = {"batch_size": batch_size, "device": dev, "amp": amp_dtype, "channels_last": cl}
        with preserve_rng():
            if metric == "val_loss":
                rec.update({f"val_{k}": v for k, v in validation_loss(method, val_data, **kw).items()})
                value = rec["val_loss"]
            else:
                er = evaluate_method(method, val_data, **{**kw, "progress": False, **(eval_kwargs or {})})
                rec.update({k: v for k, v in er.summary().items() if isinstance(v, (int, float))})
                value = (float(metric(er)) if callable(metric) else
                         sum(float(er[m]) for m in metric) / len(metric) if isinstance(metric, (list, tuple))
                         else float(er[metric]))
        rec["selection_value"] = value
        val_history.append(rec)
        if best["value"] is None or (value > best["value"] if maximize else value < best["value"]):
            best.update(step=step, value=value)
            if ckpt_selection == "best_val":
                best_state = cpu_copy(method_state(method))
                if ckdir is not None:
                    save_checkpoint(ckdir / BEST, method, step=step, best=dict(best))
        return rec

    method.train()
    bar = tqdm(total=total, initial=start, desc=f"fit {getattr(method, 'name', '')}".strip(), unit="step",
               disable=not progress, dynamic_ncols=True)
    pending: list = []
    keyed = bool(getattr(train_data, "keyed_draws", False)) and cache is None
    images, train_s, step = 0, 0.0, start
    t0 = time.perf_counter()
    try:
        sampler = StepSampler(n, batch_size, total, start, shuffle, seed, drop_last, keyed=keyed)
        for i, batch in enumerate(source(sampler), start):
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
            do_eval = val_data is not None and (done % eval_every == 0 or done == total)
            do_ckpt = ckdir is not None and checkpoint_every and done % checkpoint_every == 0
            if done % log_every == 0 or done == total or do_eval or do_ckpt:
                last = flush_losses(pending, history)
                bar.set_postfix({"ep": f"{done / spe:.2f}", **{k: f"{v:.4g}" for k, v in last.items()}}, refresh=False)
                for cb in callbacks:
                    cb("log", {"step": done, "epoch": done / spe, "losses": last})
            if do_eval or do_ckpt:
                synchronize(dev)
                train_s += time.perf_counter() - t0
                if do_eval:
                    rec = validate(done)
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
    final_state = None
    if ckpt_selection == "best_val" and best_state is not None and best["step"] != step:
        final_state = cpu_copy(method_state(method))
        load_method_state(method, best_state)
    if callable(getattr(method, "on_fit_end", None)):
        method.on_fit_end(ctx)
    recorded = ("best_on_test" if allow_test_selection else "best_val") if ckpt_selection == "best_val" else "last"
    result = FitResult(
        history=history, val_history=val_history, steps=step, steps_per_epoch=spe, batch_size=batch_size, seed=seed,
        device=str(dev), amp=amp_name(amp_dtype), channels_last=cl, on_gpu_cache=cache is not None,
        ckpt_selection=recorded, selection_metric=metric_name(metric) if val_data is not None else None,
        best_step=best["step"] if ckpt_selection == "best_val" else None,
        best_value=best["value"] if ckpt_selection == "best_val" else None,
        train_s=prior_train_s + train_s, wall_s=time.perf_counter() - t_wall,
        images_per_s=round(images / train_s, 2) if train_s > 0 and images else None,
        resumed_from_step=resumed_from, checkpoint_path=str(ckdir / LAST) if ckdir is not None else None,
        final_state=final_state,
        extra_protocol={"val_split": val_split, "val_on_test": bool(allow_test_selection and val_data is not None),
                        "grad_accum": grad_accum, "deterministic": deterministic, "total_steps": total})
    for cb in callbacks:
        cb("end", result)
    return result
