"""End-to-end benchmark of contactsync's batch matcher on a generated set (see generate.py).

    PYTHONPATH=src python benchmarks/bench_match.py benchmarks/data/100k --workers 2

Times the whole batch path (read both CSVs, normalise, block, score, decide, write LINKS.csv), samples the
peak memory of the process tree, then scores the output against truth.csv and reports what blocking did:
pairs compared and the share of true pairs that share a usable key (the ceiling for recall).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contactsync.matching import BlockingStats, match_all
from contactsync.matching.blocking import finding_keys, prepared_keys
from contactsync.matching.csvio import read_records, write_decisions
from contactsync.matching.prepared import Prepared
from evaluate import quality, read_truth
from memory import PeakMemory, cpu_seconds


def blocking_recall(left_path: Path, right_path: Path, truth: set[tuple[str, str]]) -> float:
    """Share of true pairs whose right record holds one of the left record's finding keys (recomputed, untimed)."""
    left = {r.id: prepared_keys(Prepared(r)) for r in read_records(left_path)}
    right = {r.id: prepared_keys(Prepared(r)) for r in read_records(right_path)}
    right_count: dict[str, int] = {}
    for ks in right.values():
        for k in ks:
            right_count[k] = right_count.get(k, 0) + 1
    kept = sum(1 for lid, rid in truth if set(finding_keys(left[lid], lambda k: right_count.get(k, 0))) & right[rid])
    return kept / len(truth) if truth else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="directory with left.csv, right.csv, truth.csv")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="LINKS.csv (default: DATA/links.csv)")
    parser.add_argument("--no-blocking-recall", action="store_true")
    parser.add_argument("--calibrate", action="store_true", help="re-estimate the level weights by EM first")
    args = parser.parse_args()
    out = args.out or args.data / "links.csv"
    stats = BlockingStats()
    with PeakMemory() as mem:
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        left = read_records(args.data / "left.csv")
        right = read_records(args.data / "right.csv")
        decisions = match_all(left, right, workers=args.workers, stats=stats, calibrate=args.calibrate)
        write_decisions(out, decisions)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    truth = read_truth(args.data / "truth.csv")
    result: dict[str, object] = {
        "engine": "contactsync",
        "left": len(left),
        "right": len(right),
        "true_pairs": len(truth),
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_mib": round(mem.peak_mib),
        "pairs_compared": stats.pairs,
        "skipped_keys": stats.skipped_keys,
        "calibrated": args.calibrate,
    }
    q = quality(((d.left_id, d.right_id, d.decision) for d in decisions), truth, len(left))
    result.update({k: round(v, 4) if isinstance(v, float) else v for k, v in q.items()})
    if not args.no_blocking_recall:
        result["blocking_true_pairs_kept"] = round(
            blocking_recall(args.data / "left.csv", args.data / "right.csv", truth), 4
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
