"""Checkpoint selection during :func:`adlib.engine.fit`: validation, the selection metric and the best state."""

from __future__ import annotations

from .checkpoint import cpu_copy, load_method_state, method_state
from .evaluation import evaluate_method, validation_loss
from .seed import preserve_rng
from .state import dataset_labels, metric_name

# what fit(ckpt_selection=) accepts; "best_on_test" = "best_val" on the test split, knowingly (it inflates
# results: the DM-GRD and RD++ code report the best of their test-set evaluations)
FIT_CKPT_SELECTIONS = ("last", "best_val", "best_on_test")


class Selector:
    """Validates a method on ``val_data`` and keeps the best step (and, for ``"best_val"``, its state).

    ``selection_metric``: ``"auto"`` (image AUROC when ``val_data`` has anomalies, else
    ``"val_loss"``), a metric name, a tuple of names or ``"a+b+c"`` (their mean) or a callable ``EvalResult -> float``;
    higher is better except for ``val_loss``. A test split needs ``allow_test_selection=True``, or
    ``ckpt_selection="best_on_test"`` (the best state on the test split; recorded as such: inflating).
    """

    def __init__(self, val_data, ckpt_selection: str = "last", selection_metric="auto",
                 allow_test_selection: bool = False, eval_kwargs: dict | None = None):
        if ckpt_selection not in FIT_CKPT_SELECTIONS:
            raise ValueError(f"ckpt_selection must be one of {FIT_CKPT_SELECTIONS}, got {ckpt_selection!r}")
        if ckpt_selection != "last" and val_data is None:
            raise ValueError(f"ckpt_selection={ckpt_selection!r} needs val_data")
        self.val_split = getattr(val_data, "split", None)
        if ckpt_selection == "best_on_test":
            if self.val_split != "test":
                raise ValueError(f"ckpt_selection='best_on_test' selects on the test split, val_data is "
                                 f"{self.val_split!r}: use 'best_val' for a validation split")
            allow_test_selection = True
        if val_data is not None and self.val_split == "test" and not allow_test_selection:
            raise ValueError("val_data is a test split: selecting or monitoring on the test set inflates results. "
                             "Pass a validation split, or allow_test_selection=True to do it knowingly "
                             "(recorded as ckpt_selection='best_on_test').")
        self.val_data, self.ckpt_selection = val_data, ckpt_selection
        self.allow_test_selection = allow_test_selection
        self.eval_kwargs = eval_kwargs or {}
        metric = selection_metric
        if isinstance(metric, str) and "+" in metric:  # "image_auroc+pixel_auroc" = their mean (as recorded)
            metric = tuple(m.strip() for m in metric.split("+"))
        if val_data is not None and metric == "auto":
            metric = "image_auroc" if any(dataset_labels(val_data)) else "val_loss"
        self.metric = metric
        self.maximize = metric != "val_loss"
        self.val_history: list = []
        self.best: dict = {"step": None, "value": None}
        self.best_state: dict | None = None

    @property
    def active(self) -> bool:
        return self.val_data is not None

    @property
    def keeps_best(self) -> bool:
        return self.ckpt_selection in ("best_val", "best_on_test")

    def default_eval_every(self, steps_per_epoch: int, total: int) -> int | None:
        """Every epoch for ``"best_val"``, else once at the end (None without validation data)."""
        if self.val_data is None:
            return None
        return steps_per_epoch if self.keeps_best else total

    def restore(self, val_history: list, best: dict, best_state: dict | None) -> None:
        """Continue from a resumed run's records."""
        self.val_history, self.best, self.best_state = val_history, best, best_state

    def _value(self, method, kw: dict, rec: dict) -> float:
        metric = self.metric
        if metric == "val_loss":
            rec.update({f"val_{k}": v for k, v in validation_loss(method, self.val_data, **kw).items()})
            return rec["val_loss"]
        er = evaluate_method(method, self.val_data, **{**kw, "progress": False, **self.eval_kwargs})
        rec.update({k: v for k, v in er.summary().items() if isinstance(v, (int, float))})
        return (float(metric(er)) if callable(metric) else
                sum(float(er[m]) for m in metric) / len(metric) if isinstance(metric, (list, tuple))
                else float(er[metric]))

    def validate(self, method, step: int, **kw) -> tuple[dict, bool]:
        """Evaluate at ``step`` (global RNG states untouched); returns the record and whether it is a
        new best whose state was kept (``"best_val"`` only). ``kw``: batch_size, device, amp, channels_last."""
        rec: dict = {"step": step}
        with preserve_rng():
            value = self._value(method, kw, rec)
        rec["selection_value"] = value
        self.val_history.append(rec)
        best = self.best
        improved = best["value"] is None or (value > best["value"] if self.maximize else value < best["value"])
        if improved:
            best.update(step=step, value=value)
            if self.keeps_best:
                self.best_state = cpu_copy(method_state(method))
        return rec, improved and self.keeps_best

    def load_best(self, method, step: int) -> dict | None:
        """For ``"best_val"`` / ``"best_on_test"``, load the best state into ``method`` unless it is the last step's;
        returns the last step's state (a CPU copy) when it was replaced, else None."""
        if not self.keeps_best or self.best_state is None or self.best["step"] == step:
            return None
        final_state = cpu_copy(method_state(method))
        load_method_state(method, self.best_state)
        return final_state

    def record(self) -> dict:
        """The selection fields of :class:`adlib.engine.FitResult`."""
        keep = self.keeps_best
        recorded = ("best_on_test" if self.allow_test_selection else "best_val") if keep else "last"
        return {"ckpt_selection": recorded,
                "selection_metric": metric_name(self.metric) if self.val_data is not None else None,
                "best_step": self.best["step"] if keep else None, "best_value": self.best["value"] if keep else None}
