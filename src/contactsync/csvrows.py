"""Reading CSV records safely: a runaway quoted field refuses the file, an unreadable record is one row's error.

Python's reader, like the spreadsheets it imitates, takes a quote that is never closed as the start of one field
holding the rest of the file: an import then "succeeds" with one contact named after half the export. So a
record that spans more physical lines than a real address block would, or a quoted field still open at the end
of the file, stops the file with the line where the quote was opened. A field over the reader's size limit
(or otherwise unreadable) is reported for its own line and the reading goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

# A quoted field may hold line breaks (an address block); more than this many lines in one record is no address.
MAX_RECORD_LINES = 10


class UnclosedQuote(ValueError):
    """The file has a quote that opens a field and never closes it; nothing of the file should be used."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: a quoted field opened here is not closed (an unclosed quote?); file refused")
        self.line = line


Row = tuple[int, list[str] | None, str | None]


def records(handle: TextIO, dialect: type[csv.Dialect] | csv.Dialect) -> Iterator[Row]:
    """(line, fields, None) per record, or (line, None, reason) for one that cannot be read; `line` is where
    the record starts. Raises `UnclosedQuote` (possibly after the last record) for a runaway quoted field."""
    reader = csv.reader(handle, dialect=dialect)
    start = 1
    last_spanned_lines = False
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield start, None, f"unreadable record: {exc}"
            start = reader.line_num + 1
            continue
        spanned = reader.line_num - start + 1
        if spanned > MAX_RECORD_LINES:
            raise UnclosedQuote(start)
        last_spanned_lines = spanned > 1
        yield start, fields, None
        start = reader.line_num + 1
    if last_spanned_lines:
        _check_closed_at_end(handle, dialect)


def _check_closed_at_end(handle: TextIO, dialect: type[csv.Dialect] | csv.Dialect) -> None:
    """The lenient reader accepts a quote still open at the end of the file; the strict one names it. Run only
    when the last record spanned lines, so a normal file is read once."""
    handle.seek(0)
    reader = csv.reader(handle, dialect=dialect, strict=True)
    start = 1
    while True:
        try:
            next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise UnclosedQuote(start) from None
        start = reader.line_num + 1
