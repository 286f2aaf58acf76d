"""The plain baseline: rapidfuzz token_sort_ratio >= 90 on names, plus an exact tax-id match.

    PYTHONPATH=src python benchmarks/bench_baseline.py benchmarks/data/100k

This is what a matcher written in an afternoon looks like, and it shows what contactsync's engine adds. Names
are compared after rapidfuzz's default processing (lower case, punctuation to spaces); tax ids after removing
everything but letters and digits and a two-letter country prefix. Comparing every name with every other is
10^10 pairs at 100k x 100k, so names are compared within blocks sharing their first two characters (one
process, rapidfuzz's `process.extract` per name); tax ids are joined exactly. A pair sharing the tax id
scores above any name score; links are then taken one-to-one, best score first. There are no reviews. Timed
and measured like bench_match.py, scored with the same evaluate.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from evaluate import quality, read_truth
from memory import PeakMemory, cpu_seconds

NAME_CUTOFF = 90
TAX_SCORE = 101  # above any name score
BLOCK_PREFIX = 2  # names are compared within blocks sharing their first two characters
_NON_ALNUM = re.compile(r"[^A-Z0-9]")
_PREFIX = re.compile(r"^[A-Z]{2}")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _tax(raw: str) -> str:
    compact = _PREFIX.sub("", _NON_ALNUM.sub("", raw.upper()))
    return compact if len(compact) >= 6 else ""


def run(data: Path, out: Path) -> list[tuple[str, str, str]]:
    left = _read(data / "left.csv")
    right = _read(data / "right.csv")
    pairs: dict[tuple[int, int], int] = {}
    by_tax: dict[str, list[int]] = {}
    for j, r in enumerate(right):
        tax = _tax(r.get("tax_number") or "")
        if tax:
            by_tax.setdefault(tax, []).append(j)
    for i, r in enumerate(left):
        for j in by_tax.get(_tax(r.get("tax_number") or ""), ()) if r.get("tax_number") else ():
            pairs[i, j] = TAX_SCORE
    blocks: dict[str, tuple[list[int], list[int]]] = {}
    left_names = [default_process(r.get("name") or "") for r in left]
    right_names = [default_process(r.get("name") or "") for r in right]
    for side, names in ((0, left_names), (1, right_names)):
        for i, name in enumerate(names):
            if name:
                blocks.setdefault(name[:BLOCK_PREFIX], ([], []))[side].append(i)
    for li, ri in blocks.values():
        choices = [right_names[j] for j in ri]
        for i in li:
            for _, score, b in process.extract(
                left_names[i], choices, scorer=fuzz.token_sort_ratio, score_cutoff=NAME_CUTOFF, limit=None
            ):
                key = (i, ri[b])
                pairs[key] = max(pairs.get(key, 0), round(score))
    used_left: set[int] = set()
    used_right: set[int] = set()
    rows: list[tuple[str, str, str]] = []
    with out.open("w", encoding="utf-8") as handle:
        handle.write("left_id,right_id,score,decision\n")
        for (i, j), score in sorted(pairs.items(), key=lambda p: (-p[1], left[p[0][0]]["id"], right[p[0][1]]["id"])):
            if i in used_left or j in used_right:
                continue
            used_left.add(i)
            used_right.add(j)
            rows.append((left[i]["id"], right[j]["id"], "link"))
            handle.write(f"{left[i]['id']},{right[j]['id']},{min(score, 100) / 100:.4f},link\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="directory with left.csv, right.csv, truth.csv")
    parser.add_argument("--out", type=Path, default=None, help="LINKS.csv (default: DATA/links_baseline.csv)")
    args = parser.parse_args()
    out = args.out or args.data / "links_baseline.csv"
    with PeakMemory() as mem:
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        rows = run(args.data, out)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    truth = read_truth(args.data / "truth.csv")
    n_left = sum(1 for _ in _read(args.data / "left.csv"))
    result: dict[str, object] = {
        "engine": "rapidfuzz baseline",
        "left": n_left,
        "true_pairs": len(truth),
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_mib": round(mem.peak_mib),
    }
    q = quality(rows, truth, n_left)
    result.update({k: round(v, 4) if isinstance(v, float) else v for k, v in q.items()})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
