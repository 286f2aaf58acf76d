"""What blocking does on a generated set, untimed: pairs per key kind, distinct pairs, true pairs kept.

    PYTHONPATH=src python benchmarks/bench_blocking.py benchmarks/data/p1 [--lost 20]

Applies the rules the batch and the pipeline share (`blocking.common_keys` over the right side's holders of
each key, and each left record's `blocking.finding_keys`). Pairs per kind sum, over each left record's
finding keys, the right records of the key's block (a pair found through two kinds counts in both); `pairs`
counts each left record's distinct candidates, as `bench_match.py` does. `--lost N` prints N true pairs
that share no finding key, with the keys they share.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contactsync.matching.blocking import common_keys, finding_keys, key_kind, prepared_keys
from contactsync.matching.csvio import read_records
from contactsync.matching.prepared import Prepared
from evaluate import read_truth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="directory with left.csv, right.csv, truth.csv")
    parser.add_argument("--lost", type=int, default=0, help="print this many true pairs blocking loses")
    args = parser.parse_args()
    left = {r.id: r for r in read_records(args.data / "left.csv")}
    right = {r.id: r for r in read_records(args.data / "right.csv")}
    left_keys = {i: prepared_keys(Prepared(r)) for i, r in left.items()}
    right_keys = {i: prepared_keys(Prepared(r)) for i, r in right.items()}
    index: dict[str, list[str]] = {}
    for rid, ks in right_keys.items():
        for k in ks:
            index.setdefault(k, []).append(rid)
    common = common_keys({k: len(v) for k, v in index.items()})

    def holders(k: str) -> int:
        return len(index.get(k, ()))

    per_kind: Counter[str] = Counter()
    candidates: dict[str, set[str]] = {}
    for lid, ks in left_keys.items():
        found: set[str] = set()
        for k in finding_keys(ks, holders):
            found.update(index[k])
            per_kind[key_kind(k)] += len(index[k])
        candidates[lid] = found
    truth = read_truth(args.data / "truth.csv")
    lost = sorted((lid, rid) for lid, rid in truth if rid not in candidates[lid])
    result = {
        "left": len(left),
        "right": len(right),
        "pairs": sum(len(c) for c in candidates.values()),
        "pairs_per_kind": dict(per_kind.most_common()),
        "keys_set_aside": len(common),
        "blocking_true_pairs_kept": round(1 - len(lost) / len(truth), 4) if truth else 1.0,
    }
    print(json.dumps(result, indent=2))
    for lid, rid in lost[: args.lost]:
        for side, record in (("left ", left[lid]), ("right", right[rid])):
            print(side, record.name, "|", record.street, "|", record.postal_code, "|", record.city)
        print("  shared keys (none a finding key):", sorted(left_keys[lid] & right_keys[rid]) or "none")


if __name__ == "__main__":
    main()
