"""Reading contacts from CSV and writing decisions back, for the batch CLI and the benchmarks.

Input files come from spreadsheet exports, so we accept a byte-order mark, semicolon or tab separators
(German and French Excel write ';'), any column order, missing columns, and extra columns (ignored). The
one hard requirement is an `id` column with a unique, non-empty value per row: decisions are reported by id
and the one-to-one rule is enforced on ids.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from contactsync.csvrows import UnclosedQuote
from contactsync.csvrows import records as csv_records
from contactsync.matching.engine import Decision
from contactsync.matching.record import MatchRecord

FIELDS = ("name", "email", "tax_number", "phone", "street", "city", "postal_code", "country")
OUTPUT_COLUMNS = ("left_id", "right_id", "score", "decision")


class CsvError(Exception):
    """A file that cannot be read as contacts; the message says which file and why."""


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _records(path: Path, handle: TextIO) -> list[MatchRecord]:
    sample = handle.read(65536)
    handle.seek(0)
    # A plain reader with column positions: DictReader builds a dict per row, which is a third of the reading
    # time for a large export.
    rows = csv_records(handle, _dialect(sample))
    first = next(rows, None)
    header = first[1] if first is not None and first[1] is not None else []
    columns = {c.strip().lower(): i for i, c in enumerate(header)}  # a repeated column: the last one counts
    if "id" not in columns:
        raise CsvError(f"{path}: no 'id' column (found: {', '.join(columns) or 'no header'})")
    positions = [columns.get(f) for f in FIELDS]
    id_pos = columns["id"]
    records: list[MatchRecord] = []
    seen: set[str] = set()
    for line, row, unreadable in rows:
        if row is None:
            raise CsvError(f"{path}, line {line}: {unreadable}")
        rid = row[id_pos].strip() if id_pos < len(row) else ""
        if not rid:
            if not any(v.strip() for v in row):
                continue  # a blank line at the end of an export
            raise CsvError(f"{path}, line {line}: empty id")
        if rid in seen:
            raise CsvError(f"{path}, line {line}: duplicate id {rid[:80]!r}")
        seen.add(rid)
        name, email, tax_number, phone, street, city, postal_code, country = (
            (row[i].strip() or None) if i is not None and i < len(row) else None for i in positions
        )
        records.append(
            MatchRecord(
                id=rid,
                name=name,
                email=email,
                tax_number=tax_number,
                phone=phone,
                street=street,
                city=city,
                postal_code=postal_code,
                country=country,
            )
        )
    return records


def read_records(path: str | Path) -> list[MatchRecord]:
    """All contacts in a CSV file, or `CsvError` with a message fit for the person who gave us the file."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as handle:
            return _records(p, handle)
    except FileNotFoundError:
        raise CsvError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise CsvError(f"{p}: is a directory, not a CSV file") from None
    except PermissionError:
        raise CsvError(f"{p}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise CsvError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise CsvError(f"{p}: not a readable CSV file ({exc})") from None
    except UnclosedQuote as exc:
        raise CsvError(f"{p}, {exc}") from None


def write_decisions(path: str | Path, decisions: Iterable[Decision]) -> int:
    """Write `left_id,right_id,score,decision` rows; returns the number of rows."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for d in decisions:
            writer.writerow((d.left_id, d.right_id, f"{d.score:.4f}", d.decision))
            n += 1
    return n


def write_explanations(path: str | Path, decisions: Iterable[Decision]) -> None:
    """One JSON object per decision with its full explanation, for the people who review."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for d in decisions:
            row = {"left_id": d.left_id, "right_id": d.right_id, "score": d.score, "decision": d.decision}
            handle.write(json.dumps({**row, "explanation": d.explanation}, ensure_ascii=False) + "\n")
