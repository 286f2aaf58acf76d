"""Scoring a set of decisions against the generator's truth file."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path


def read_truth(path: Path) -> set[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(r["left_id"], r["right_id"]) for r in csv.DictReader(handle)}


def quality(rows: Iterable[tuple[str, str, str]], truth: set[tuple[str, str]], n_left: int) -> dict[str, float]:
    """rows are (left_id, right_id, decision) with decision "link" or "review"."""
    links: set[tuple[str, str]] = set()
    reviews: set[tuple[str, str]] = set()
    for left_id, right_id, decision in rows:
        (links if decision == "link" else reviews).add((left_id, right_id))
    true_links = len(links & truth)
    return {
        "links": len(links),
        "link_precision": true_links / len(links) if links else 1.0,
        "link_recall": true_links / len(truth) if truth else 1.0,
        "link_or_review_recall": len((links | reviews) & truth) / len(truth) if truth else 1.0,
        "review_share": len({left for left, _ in reviews}) / n_left if n_left else 0.0,
        "false_links": len(links) - true_links,
    }
