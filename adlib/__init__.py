"""adlib: notebook-first tutorials and reproductions of knowledge-distillation anomaly detection.

Your own images: ``adlib.fit(method, data, out)`` trains into a run folder, ``adlib.load(run)`` brings
the model back, ``adlib.predict(run, images, out)`` scores new images with a calibrated threshold
(:mod:`adlib.workflow`, :mod:`adlib.run_dir`, :mod:`adlib.prediction`; imported on first use).
"""

__version__ = "0.1.0.dev0"
__all__ = ["fit", "load", "predict"]


def fit(method, data, out, **kwargs):
    """Train ``method`` on ``data`` into the run folder ``out``: :func:`adlib.workflow.fit`."""
    from adlib.workflow import fit as _fit

    return _fit(method, data, out, **kwargs)


def load(run, **kwargs):
    """The trained method of a run folder, ready to predict: :func:`adlib.run_dir.load`."""
    from adlib.run_dir import load as _load

    return _load(run, **kwargs)


def predict(run, images, out=None, **kwargs):
    """Scores, decisions and overlays for new images: :func:`adlib.prediction.predict`."""
    from adlib.prediction import predict as _predict

    return _predict(run, images, out, **kwargs)
