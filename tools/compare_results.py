"""Compare re-run results files with stored ones: metrics, final losses and evaluation variants.

    python tools/compare_results.py STORED_RUNS RERUN_RUNS --tags TAG [TAG ...] --out docs/results/NAME

For each tag (a folder name under ``<runs>/<paper>/<dataset>/<category>/``), reads ``seed0/results.json``
from both trees and writes ``NAME.json`` and ``NAME.md`` with every value, its difference and the
largest absolute difference. Paths in the output are relative to the runs folders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def flat(res: dict) -> dict[str, float]:
    out = {f"metrics.{k}": v["value"] for k, v in res["metrics"].items() if isinstance(v.get("value"), (int, float))}
    out.update({f"loss_final.{k}": v for k, v in (res.get("extra", {}).get("loss_final") or {}).items()})
    for name, var in ((res.get("extra") or {}).get("variants") or {}).items():
        out.update({f"variants.{name}.{k}": v for k, v in var["metrics"].items() if isinstance(v, (int, float))})
    return out


def weights(res: dict) -> dict:
    """The weights record without its file path (a path of the machine that ran it)."""
    return {k: v for k, v in res["weights"].items() if k != "file"}


def find(root: Path, tag: str) -> Path:
    hits = sorted(root.glob(f"*/*/*/{tag}/seed0/results.json"))
    if len(hits) != 1:
        raise SystemExit(f"{root}: {len(hits)} results files for tag {tag!r}")
    return hits[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stored", type=Path)
    ap.add_argument("rerun", type=Path)
    ap.add_argument("--tags", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    record, lines = {"cells": {}}, []
    for tag in a.tags:
        ps, pr = find(a.stored, tag), find(a.rerun, tag)
        s, r = json.loads(ps.read_text()), json.loads(pr.read_text())
        fs, fr = flat(s), flat(r)
        keys = sorted(set(fs) | set(fr))
        rows = {k: {"stored": fs.get(k), "rerun": fr.get(k),
                    "diff": (fr[k] - fs[k]) if k in fs and k in fr else None} for k in keys}
        worst = max((abs(v["diff"]) for v in rows.values() if v["diff"] is not None), default=None)
        record["cells"][tag] = {
            "stored": {"file": str(ps.relative_to(a.stored)), "git_commit": s.get("git_commit"),
                       "weights": weights(s), "env": s.get("env")},
            "rerun": {"file": str(pr.relative_to(a.rerun)), "git_commit": r.get("git_commit"),
                      "weights": weights(r), "env": r.get("env"), "timings": r.get("timings")},
            "values": rows, "max_abs_diff": worst, "missing": [k for k in keys if rows[k]["diff"] is None]}
        lines += [f"### `{tag}`", "",
                  f"stored at `{s.get('git_commit', '?')[:10]}`, re-run at `{r.get('git_commit', '?')[:10]}`; "
                  f"weights {r['weights']['source']}; largest |difference| **{worst}**", "",
                  "| value | stored | re-run | difference |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['stored']} | {v['rerun']} | {v['diff']} |" for k, v in rows.items()]
        lines.append("")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(a.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
