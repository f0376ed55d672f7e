"""The papers' published numbers as data: ``paper_values("rd_variance_loss", table="I")``.

Each value carries its table id, dataset, category, setting, metric and (per paper) the
protocol that produced it, so reports can set paper and ours side by side honestly.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_reference(paper: str) -> dict:
    """The whole reference document of ``paper`` (file ``adlib/reference/<paper>.json``)."""
    path = HERE / f"{paper}.json"
    if not path.is_file():
        known = sorted(p.stem for p in HERE.glob("*.json"))
        raise KeyError(f"no reference numbers for paper {paper!r}; known: {known}")
    return json.loads(path.read_text())


def paper_values(paper: str, **match) -> list[dict]:
    """Records whose fields equal every given keyword, e.g. ``table="I", category="carpet"``."""
    return [r for r in load_reference(paper)["values"] if all(r.get(k) == v for k, v in match.items())]


def paper_value(paper: str, **match) -> float | None:
    """The single matching value, or None when the paper reports none for that cell."""
    found = paper_values(paper, **match)
    if len(found) > 1:
        raise ValueError(f"{len(found)} reference values match {match}; be more specific")
    return found[0]["value"] if found else None


def paper_teacher(paper: str) -> str:
    """The teacher (backbone and weights) that produced the paper's numbers."""
    return load_reference(paper)["protocol"]["teacher"]


def teacher_gap(paper: str, weights: dict) -> str:
    """One line for every place a paper number is shown: which teacher produced ours and which the paper's
    (``weights``: a method's ``weights_info()``)."""
    name, source = weights.get("name", "?"), weights.get("source", "?")
    theirs = paper_teacher(paper)
    same = theirs.split(" ")[0] == name and "random" not in str(source)
    note = "the same teacher" if same else "a different teacher: read differences in level with that in mind"
    return f"teacher — ours: {name} ({source}); the paper's: {theirs}; {note}"
