"""The figures of a run folder and its one-page ``summary.html`` (from :mod:`adlib.viz`).

- ``figures/extremes.png``: the most and least anomalous test images with their maps (one colour
  range for all, ``inferno``: perceptually uniform), ground truth as contours where there is a mask;
- ``figures/scores.png``: the test scores by class with the decision threshold;
- ``figures/roc.png`` / ``figures/pro.png``: image ROC and pixel PRO curves (when available).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

CMAP = "inferno"  # perceptually uniform
N_EXTREMES = 6


def _image(ds, i: int) -> np.ndarray:
    return ds.load_raw(i)[0].permute(1, 2, 0).numpy()  # H×W×3 uint8 at the model's input size


def write_figures(out: Path, model, test, ev, manifest: dict, results: dict | None) -> dict:
    """Write the figures of a fitted run into ``out/figures``; returns ``{name: path}``."""
    from adlib.viz import gallery, pro_curve_figure, roc_curve_figure, save_figure, score_distributions

    figdir = Path(out) / "figures"
    paths = {}
    scores = ev.scores.numpy()
    labels = ev.labels.numpy() if manifest["data"]["labelled_test"] else np.zeros_like(ev.labels.numpy())
    order = np.argsort(-scores, kind="stable")
    k = max(1, min(N_EXTREMES, len(order) // 2))
    top, bottom = order[:k].tolist(), order[::-1][:k].tolist()
    idx = sorted(set(top + bottom))
    maps = ev.maps.float().cpu()
    has_mask = [r.has_mask and r.label == 1 for r in test.records]
    gts = {i: (ev.masks[i].cpu().numpy() if has_mask[i] and ev.masks is not None else None) for i in idx}
    images = {i: _image(test, i) for i in idx}
    lo, hi = float(maps[idx].min()), float(maps[idx].max())
    # gallery indexes its arguments by position: give it full-length lists with what is shown filled in
    full_imgs = [images.get(i) for i in range(len(scores))]
    full_maps = [maps[i].numpy() if i in images else None for i in range(len(scores))]
    full_gts = [gts.get(i) for i in range(len(scores))]
    fig = gallery(full_imgs, full_maps, {"most anomalous": top, "least anomalous": bottom}, scores=scores,
                  labels=labels if manifest["data"]["labelled_test"] else None, gts=full_gts, norm="global",
                  vmin=lo, vmax=hi, cmap=CMAP, title=f"{manifest['method']}: test images by score")
    paths["extremes"] = save_figure(fig, figdir / "extremes.png")
    thr = manifest["threshold"]["value"]
    fig = score_distributions(scores, labels, threshold=thr,
                              title="test image scores" + ("" if manifest["data"]["labelled_test"] else
                                                           " (normal images only)"))
    paths["scores"] = save_figure(fig, figdir / "scores.png")
    if results is not None:
        from sklearn.metrics import roc_curve

        fpr, tpr, _ = roc_curve(labels, scores)
        auroc = results["metrics"]["image_auroc"]["value"]
        paths["roc"] = save_figure(roc_curve_figure({manifest["method"]: (fpr, tpr, auroc)}, title="image ROC"),
                                   figdir / "roc.png")
        pro = ev.metrics.get("aupro")
        if pro is not None and pro.value is not None and pro.curve:
            limit = float(pro.protocol.get("fpr_limit", 0.3))
            paths["pro"] = save_figure(pro_curve_figure({manifest["method"]: (pro.curve["x"], pro.curve["y"],
                                                                                 pro.value)}, fpr_limit=limit),
                                       figdir / "pro.png")
    return paths


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return html.escape(str(v))


def write_summary(out: Path, manifest: dict, results: dict | None) -> Path:
    """One page linking the run's files and figures: metrics (unavailable ones with the reason), threshold, data."""
    from adlib.fileio import atomic_write_text

    e = html.escape
    rows = []
    if results is not None:
        for name, m in results["metrics"].items():
            why = (m.get("protocol") or {}).get("unavailable") if m.get("value") is None else None
            rows.append(f"<tr><td>{e(name)}</td><td>{_fmt(m.get('value'))}</td><td>{e(why or '')}</td></tr>")
    metrics = (f"<table><tr><th>metric</th><th>value</th><th>note</th></tr>{''.join(rows)}</table>" if rows else
               "<p>No evaluation: the test split has no anomalous (or no normal) images, so no metric can be "
               "computed. The threshold below needs none.</p>")
    thr = manifest["threshold"]
    figs = manifest["files"].get("figures") or {}
    imgs = "".join(f'<figure><a href="{e(p)}"><img src="{e(p)}" alt="{e(n)}"></a><figcaption>{e(n)}</figcaption>'
                   "</figure>" for n, p in figs.items())
    counts = manifest["data"].get("counts", {})
    files = [("run.json", "manifest"), (manifest["files"]["checkpoint"], "checkpoint")]
    if manifest["files"].get("results"):
        files.append((manifest["files"]["results"], "results JSON"))
    links = " · ".join(f'<a href="{e(f)}">{e(f)}</a> ({e(what)})' for f, what in files)
    weights = manifest.get("weights") or {}
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>adlib run: {e(manifest['method'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
figure{{display:inline-block;margin:0.5em;vertical-align:top}}img{{max-width:520px}}</style></head><body>
<h1>{e(manifest['method'])} on {e(str(manifest['data'].get('name')))}{(' / ' + e(str(manifest['data']['category']))) if manifest['data'].get('category') else ''}</h1>
<p>Image size {manifest['image_size']} px · {manifest['fit'].get('steps')} steps (batch {manifest['fit'].get('batch_size')}, seed {manifest['fit'].get('seed')}, profile {e(str(manifest['fit'].get('profile')))}) ·
teacher {e(str(weights.get('name')))} ({e(str(weights.get('source')))}, sha256 {e(str(weights.get('sha256'))[:16])}…)</p>
<p>Images: {e(str(counts))}</p>
<h2>Decision threshold</h2>
<p><b>{e(thr['rule'])}</b> — the {thr.get('quantile')} quantile of the scores of {e(thr.get('calibrated_on', ''))}.
<code>adlib predict RUN IMAGES --out DIR</code> uses it (or <code>--calibrate LABELLED_DIR</code>: the best F1 there).</p>
<h2>Metrics</h2>{metrics}
<h2>Figures</h2>{imgs}
<h2>Files</h2><p>{links}</p>
</body></html>
"""
    return atomic_write_text(Path(out) / "summary.html", page)
