"""The report's opening: what the profile means, then per paper table the paper's claim, ours and a verdict.

    rep = build_report(table_configs(), "runs", "quick")
    print(summary_markdown(rep))          # the same text the report files open with
    rows = summary_rows(rep)              # one dict per claim: paper, table, metric, claim, ours, verdict, reason

Claims per table and metric (:func:`~adlib.reproduce.report.settings_view` picks the category):

* the paper has a value on our data (same dataset and category): a **value** claim per setting
  (ours vs the paper's value), and, with two or more settings, an **ordering** claim: the paper's
  best setting > its worst;
* the paper's values are on other data: only the **ordering** (best > worst) can be compared;
  a single setting on other data is ``not comparable``;
* metrics the paper gives no number for, and different PRO definitions, are ``not comparable``.

Verdicts and the noise rule: :mod:`adlib.reproduce.verdicts`.
"""

from __future__ import annotations

import html

from .verdicts import VERDICTS, Pooled, Verdict, noise_floor, ordering_verdict, pooled_std, value_verdict

SUMMARY_COLUMNS = ("paper", "table", "metric", "claim", "paper's value", "ours", "verdict", "reason")
# a profile is smoke-level (checks the pipeline, not the paper's numbers) below any of these
SMOKE_MIN_SIZE, SMOKE_MIN_EPOCHS, SMOKE_MIN_STEPS = 128, 10, 500
RULE = ("Verdict rule: noise = max(2 × spread over seeds, test-set floor); the floor is one swapped pair of test "
        "images for image AUROC (100 / (n_normal · n_anomalous) points) and at least 0.05 points (the papers' "
        "rounding). A value on the same data: |ours − paper| ≤ noise → within noise, above → holds, below → "
        "reversed. An ordering \"A > B\" on other data: our A − B > noise → holds, |A − B| ≤ noise → within noise, "
        "< −noise → reversed. No paper number, other data without an ordering, or another metric definition → "
        "not comparable. A cell with one seed borrows the report's pooled run-to-run std (all its multi-seed cells "
        "of that dataset, metric and category): a one-seed value uses 2 × pooled; seeds on one side only: √2 × max(that side's std, "
        "pooled) stands for the difference's spread; one seed on both sides: √2 × pooled, and for image AUROC "
        "with per-image scores stored a paired bootstrap over the test images must also exclude 0. With no "
        "multi-seed cell in the report the seed noise is unknown: the bootstrap alone decides, else the floor.")


def profile_meaning(cfg: dict, profile: str) -> dict:
    """What a table's profile trains: dataset, categories, image size, epochs / steps, batch, teacher;
    ``smoke``: why the profile is smoke-level (None when it is not)."""
    from .schema import resolve_profile

    sec = resolve_profile(cfg, profile).sections
    data, fit, method = sec["data"], sec["fit"], sec["method"]
    out = {"profile": profile, "dataset": data.get("dataset"), "categories": list(data.get("categories") or []),
           "image_size": data.get("image_size"), "epochs": fit.get("epochs"), "steps": fit.get("steps"),
           "batch_size": fit.get("batch_size"), "backbone": method.get("backbone") or method.get("teacher")}
    small = {f"{out['image_size']} px": out["image_size"], f"{out['epochs']} epochs": out["epochs"],
             f"{out['steps']} steps": out["steps"]}
    limits = (SMOKE_MIN_SIZE, SMOKE_MIN_EPOCHS, SMOKE_MIN_STEPS)
    why = [text for (text, v), lim in zip(small.items(), limits) if v is not None and v < lim]
    why += ["synthetic data"] if out["dataset"] == "synthetic" else []
    out["smoke"] = ", ".join(why) or None
    return out


def meaning_text(sec: dict) -> str:
    """One line: the profile's data, size, schedule and teacher (with its weights' source), smoke-level said."""
    m = sec.get("meaning") or {}
    if not m:
        return ""
    sched = f"{m['epochs']} epochs" if m["epochs"] is not None else f"{m['steps']} steps"
    weights = "; ".join(f"{w['name']} from {w['source']}" for w in sec.get("weights", [])) or "weights: no results yet"
    text = (f"{m['dataset']} ({', '.join(map(str, m['categories'])) or 'all categories'}), {m['image_size']} px, "
            f"{sched}, batch {m['batch_size']}, teacher {m['backbone'] or 'the method default'} ({weights})")
    return text + (f" — smoke-level ({m['smoke']}): it checks the pipeline, not the paper's numbers" if m["smoke"] else "")


def _floor(sec: dict, metric: str, category: str) -> float:
    counts = sec.get("test_counts", {})
    picked = list(counts.values()) if category == "average" else [counts[category]] if category in counts else []
    return noise_floor(metric, picked)


def _per_seed(sec: dict, setting: str, category: str, metric: str) -> dict:
    for r in sec["rows"]:
        if (r["setting"], r["category"], r["metric"]) == (setting, category, metric) and r["n"]:
            return dict(zip(r["seeds"], r["ours_values"]))
    return {}


def _scores_by_seed(sec: dict, setting: str, category: str) -> dict:
    """``{seed: extra.image_scores}`` of a setting's runs, as the report read them (none for evaluation
    variants, which keep only metrics)."""
    return dict(sec.get("image_scores", {}).get(setting, {}).get(category, {}))


def _bootstrap_gap(sec: dict, a: str, b: str, category: str, metric: str, n_boot: int = 1000):
    """95 % paired bootstrap interval (points) of A − B image AUROC on the first seed both ran, when
    both runs stored their per-image scores on the same test images; else None."""
    if metric != "image_auroc":
        return None
    sa, sb = _scores_by_seed(sec, a, category), _scores_by_seed(sec, b, category)
    common = sorted(set(sa) & set(sb))
    if not common:
        return None
    ra, rb = sa[common[0]], sb[common[0]]
    from adlib.metrics.bootstrap import paired_bootstrap_records

    try:
        c = paired_bootstrap_records(ra, rb, n_boot=n_boot, seed=common[0])
    except ValueError:  # not the same test images, or a single class: no paired interval
        return None
    return 100 * c.low, 100 * c.high, f"{len(ra['labels'])} test images (seed {common[0]})"


def _ours_text(mean, std, n) -> str:
    if not n:
        return "no result"
    return f"{mean:.2f} ± {std:.2f} (n = {n})" if n > 1 else f"{mean:.2f} (n = 1, no spread)"


def _row(sec, metric, claim, paper, ours, v: Verdict, kind, **extra) -> dict:
    return {"paper": sec["paper"], "table": sec["title"], "metric": metric, "claim": claim, "paper_value": paper,
            "ours": ours, "verdict": v.verdict, "reason": v.reason, "kind": kind, "delta": v.delta, "noise": v.noise,
            **extra}


def _other_pro(sec: dict, metric: str) -> str | None:
    ours, paper = sec.get("protocol_ours", {}).get("aupro_mode"), sec.get("protocol_paper", {}).get("aupro_mode")
    if metric != "aupro" or not ours or not paper or all(m in str(paper) for m in ours.split("/")):
        return None
    return f"another PRO: ours {ours}, the paper's {str(paper).split(' (')[0]}"


def averaged_categories(sec: dict) -> tuple:
    """The categories a report table's ``average`` rows average over."""
    return tuple(sorted({r["category"] for r in sec.get("rows", []) if r["category"] != "average"}))


def noise_key(dataset: str | None, metric: str, category: str, averaged: tuple) -> tuple:
    """The group a report row's seed spread is pooled in: its dataset, metric and category, and for an
    ``average`` the categories it averages (:func:`averaged_categories` of its table)."""
    return dataset, metric, category, averaged if category == "average" else ()


def report_noise(report: dict) -> dict:
    """``{noise_key: Pooled}``: the pooled run-to-run std of every multi-seed cell of the report (a
    training shown under several tables counted once), for the verdicts of one-seed cells."""
    groups: dict = {}
    for sec in report["tables"]:
        averaged = averaged_categories(sec)
        for r in sec.get("rows", []):
            if r.get("n", 0) >= 2 and not r.get("same_as"):
                groups.setdefault(noise_key(r["dataset"], r["metric"], r["category"], averaged), []).append(r["ours_values"])
    return {k: p for k, g in groups.items() if (p := pooled_std(g))}


def table_claims(sec: dict, noise: dict | None = None) -> list[dict]:
    """The summary rows of one report table (see the module docstring); ``noise`` is
    :func:`report_noise` of the report the table is in."""
    from .report import report_metrics, settings_view

    if sec.get("skipped"):
        return [_row(sec, "–", "–", "–", "–", Verdict("not comparable", sec["skipped"]), "none")]
    out, no_claim = [], []
    averaged = averaged_categories(sec)
    for metric in report_metrics(sec):
        view = settings_view(sec, metric)
        if not view["paper"]:
            no_claim.append(metric) if view["ours"] else None
            continue
        floor, cat = _floor(sec, metric, view["category"]), view["category"]
        dataset = next((r["dataset"] for r in sec["rows"] if r["metric"] == metric and r["category"] == cat), None)
        pooled: Pooled | None = (noise or {}).get(noise_key(dataset, metric, cat, averaged))
        where = view["paper_label"].removeprefix("paper: ")
        ranked = sorted(view["paper"], key=view["paper"].get, reverse=True)
        both = [n for n in ranked if n in view["ours"]]  # the claim between the settings both have, if two
        pair = both if len(both) >= 2 else ranked
        if view["same_data"]:
            for name in ranked:
                mean, std, n = view["ours"].get(name, (None, None, 0))
                other = _other_pro(sec, metric)
                v = Verdict("not comparable", other) if other and n else value_verdict(mean, std, n, view["paper"][name], floor,
                                                                                          pooled)
                out.append(_row(sec, metric, f"{name} = {view['paper'][name]:g} on {where}", f"{view['paper'][name]:g}",
                                _ours_text(mean, std, n), v, "value", setting=name, ours_mean=mean, ours_std=std,
                                category=cat))
        if len(ranked) >= 2:
            a, b = pair[0], pair[-1]
            pa, pb = view["paper"][a], view["paper"][b]
            claim = f"{a} > {b}" + ("" if view["same_data"] else f" (paper on {where})")
            missing = [n for n in (a, b) if n not in view["ours"]]
            if pa == pb:
                v = Verdict("not comparable", f"the paper's {a} and {b} tie ({pa:g})")
            elif missing:
                v = Verdict("not comparable", f"no result of ours for {' and '.join(missing)}")
            else:
                v = ordering_verdict(_per_seed(sec, a, cat, metric), _per_seed(sec, b, cat, metric), floor,
                                     _bootstrap_gap(sec, a, b, cat, metric), pooled)
            ma, sa, na = view["ours"].get(a, (None, None, 0))
            mb, sb, nb = view["ours"].get(b, (None, None, 0))
            ours = (f"{a} − {b} = {v.delta:+.2f} ({_ours_text(ma, sa, na)} vs {_ours_text(mb, sb, nb)}; {view['ours_label']})"
                    if v.delta is not None else f"{_ours_text(ma, sa, na)} vs {_ours_text(mb, sb, nb)}")
            out.append(_row(sec, metric, claim, f"{pa:g} vs {pb:g} ({pa - pb:+.2f})", ours, v, "ordering",
                            a=a, b=b, paper_diff=pa - pb))
        elif not view["same_data"]:
            name = ranked[0]
            mean, std, n = view["ours"].get(name, (None, None, 0))
            v = Verdict("not comparable", f"the paper's value is on {where}, ours on {view['ours_label']}: other data,"
                        " and one setting has no ordering to compare" if n else "no result of ours")
            out.append(_row(sec, metric, f"{name} = {view['paper'][name]:g} on {where}", f"{view['paper'][name]:g}",
                            _ours_text(mean, std, n), v, "value", setting=name, ours_mean=mean, ours_std=std,
                            category=cat))
    if no_claim:
        out.append(_row(sec, ", ".join(no_claim), "–", "–", "measured",
                        Verdict("not comparable", "the paper gives no number for this metric in this table"), "none"))
    for r in out:  # a value from a training already shown under another table or setting
        same = [x["same_as"] for x in sec["rows"] if x.get("same_as") and r["kind"] == "value"
                and (x["setting"], x["category"], x["metric"]) == (r.get("setting"), r.get("category"), r["metric"])]
        r["same_as"] = same[0] if same else None
    return out


def summary_rows(report: dict) -> list[dict]:
    """Every claim of every table of ``report`` (a :func:`~adlib.reproduce.report.build_report` dict):
    dicts with ``paper``, ``table``, ``metric``, ``claim``, ``paper_value``, ``ours``, ``verdict``,
    ``reason``, ``kind`` (value / ordering / none), ``delta`` and ``noise`` (points)."""
    noise = report_noise(report)
    return [r for sec in report["tables"] for r in table_claims(sec, noise)]


def meanings(report: dict) -> list[tuple[str, list[str]]]:
    """``(meaning line, [tables])`` for each distinct meaning of the report's profile."""
    out: dict = {}
    for sec in report["tables"]:
        if text := meaning_text(sec):
            out.setdefault(text, []).append(f"{sec['paper']} {sec['title']}")
    return list(out.items())


def _cells(r: dict) -> list[str]:
    reason = r["reason"] + (f" (same training as {r['same_as']})" if r.get("same_as") else "")
    return [r["paper"], r["table"], r["metric"], r["claim"], r["paper_value"], r["ours"], r["verdict"], reason]


def summary_markdown(report: dict, rows: list[dict] | None = None) -> str:
    """The summary as markdown: the profile's meaning, the verdict rule, then one table row per claim."""
    rows = summary_rows(report) if rows is None else rows
    lines = ["## Summary", "", f"Profile `{report['profile']}` means:", ""]
    lines += [f"- {text}" + (f" — {', '.join(tabs)}" if len(meanings(report)) > 1 else "") for text, tabs in meanings(report)]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    lines += ["", " · ".join(f"{k}: {n}" for k, n in counts.items()), "", RULE, ""]
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines += ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines + [""])


VERDICT_CLASS = {"holds": "pos", "reversed": "neg", "within noise": "mid", "not comparable": ""}


def summary_html(report: dict, rows: list[dict] | None = None) -> str:
    """The summary as HTML (the same content as :func:`summary_markdown`)."""
    e = html.escape
    rows = summary_rows(report) if rows is None else rows
    out = ["<h2>Summary</h2>", f"<p>Profile <b>{e(report['profile'])}</b> means:</p><ul>"]
    many = len(meanings(report)) > 1
    out += [f"<li>{e(text)}{e(' — ' + ', '.join(tabs)) if many else ''}</li>" for text, tabs in meanings(report)]
    out += ["</ul>", f"<p class=\"meta\">{e(RULE)}</p>", "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in SUMMARY_COLUMNS) + "</tr>"]
    for r in rows:
        cls = VERDICT_CLASS.get(r["verdict"], "")
        cells = [f"<td class=\"{cls}\">{e(c)}</td>" if i == 6 and cls else f"<td>{e(c)}</td>" for i, c in enumerate(_cells(r))]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])
