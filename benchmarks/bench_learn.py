"""Learning from review decisions, measured: replay the generator's truth as a reviewer, batch by batch.

    PYTHONPATH=src python benchmarks/bench_learn.py benchmarks/data/people-10k --batches 5

Round 0 matches with the default model. After each round a reviewer answers the open review items of
`--per-batch` left records (the items of the lowest left ids first, as a queue would show them), answering
from truth.csv: the candidate that is the true partner is "same", every other candidate "not the same". The
labels gathered so far re-fit the model (`contactsync.matching.learn.fit`), the whole set is matched again,
and the review share (left records with an open review item, among those not yet reviewed) and quality are
printed for the round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contactsync.matching import DEFAULT_MODEL, match_all
from contactsync.matching.csvio import read_records
from contactsync.matching.learn import Label, fit
from evaluate import quality, read_truth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--per-batch", type=int, default=100, help="left records reviewed per batch")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    left = read_records(args.data / "left.csv")
    right = read_records(args.data / "right.csv")
    truth = read_truth(args.data / "truth.csv")
    model = DEFAULT_MODEL
    labels: list[Label] = []
    reviewed: set[str] = set()
    print("round | labels | link threshold | learned kinds | review share | link precision | link recall | link+review")
    for round_ in range(args.batches + 1):
        decisions = match_all(left, right, workers=args.workers, model=model)
        open_items = [d for d in decisions if d.decision == "review" and d.left_id not in reviewed]
        q = quality(((d.left_id, d.right_id, d.decision) for d in decisions), truth, len(left))
        share = len({d.left_id for d in open_items}) / len(left)
        print(
            f"{round_} | {len(labels)} | {model.link_weight:.1f} | {len(model.learned)} | {share:.2%} | "
            f"{q['link_precision']:.4f} | {q['link_recall']:.4f} | {q['link_or_review_recall']:.4f}"
        )
        if round_ == args.batches:
            break
        batch = sorted({d.left_id for d in open_items})[: args.per_batch]
        chosen = set(batch)
        for d in open_items:
            if d.left_id in chosen:
                levels = tuple(d.explanation.get("levels", ()))
                labels.append(Label(levels, float(d.explanation["weight"]), (d.left_id, d.right_id) in truth))
        reviewed |= chosen
        model = fit(labels)


if __name__ == "__main__":
    main()
