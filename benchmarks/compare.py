"""Run contactsync, Splink and the rapidfuzz baseline on the same generated set and print one row each.

    PYTHONPATH=src python benchmarks/compare.py benchmarks/data/100k
    PYTHONPATH=src python benchmarks/compare.py benchmarks/data/people-100k --people

Each matcher runs in its own process, one after the other, so that timings do not compete for the cores and
each peak-memory figure is that matcher's alone. With `--repeat N` each runs N times and the row shows the
median wall time, the fastest run, the median CPU time (all processes) and the median peak memory. Quality
is the last run's: contactsync and the baseline are deterministic, Splink's figures can move in the fourth
decimal between runs. The rows are the JSON each bench script prints, laid out as a Markdown table (the
format of BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "contactsync": ["bench_match.py", "--workers", "2", "--no-blocking-recall"],
    "contactsync calibrated": ["bench_match.py", "--workers", "2", "--no-blocking-recall", "--calibrate"],
    "splink": ["bench_splink.py"],
    "rapidfuzz baseline": ["bench_baseline.py"],
}
COLUMNS = (
    ("link_precision", "link precision"),
    ("link_recall", "link recall"),
    ("link_or_review_recall", "link+review recall"),
    ("review_share", "review share"),
    ("false_links", "false links"),
    ("seconds", "time (s)"),
    ("fastest", "fastest run (s)"),
    ("cpu_seconds", "CPU (s)"),
    ("peak_mib", "peak memory (MiB)"),
)


def run(name: str, data: Path, people: bool = False) -> dict[str, object]:
    script, *options = SCRIPTS[name]
    if people and name == "splink":
        options.append("--people")
    done = subprocess.run(
        [sys.executable, str(HERE / script), str(data), *options], check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(done.stdout[done.stdout.index("{") :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="directory with left.csv, right.csv, truth.csv")
    parser.add_argument("--only", choices=sorted(SCRIPTS), action="append", help="run only these (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per matcher; the row shows medians")
    parser.add_argument("--people", action="store_true", help="a person set: Splink in its person configuration")
    args = parser.parse_args()
    names = args.only or list(SCRIPTS)
    print("| matcher | " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name in names:
        runs = [run(name, args.data, args.people) for _ in range(args.repeat)]
        result = runs[-1]
        result["seconds"] = round(statistics.median(float(str(r["seconds"])) for r in runs), 1)
        result["fastest"] = min(float(str(r["seconds"])) for r in runs)
        result["cpu_seconds"] = round(statistics.median(float(str(r["cpu_seconds"])) for r in runs), 1)
        result["peak_mib"] = round(statistics.median(float(str(r["peak_mib"])) for r in runs))
        cells = []
        for key, _ in COLUMNS:
            value = result.get(key, "")
            if key == "review_share" and isinstance(value, float):
                cells.append(f"{value:.1%}")
            else:
                cells.append(str(value))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
