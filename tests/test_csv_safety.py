"""Hostile or broken CSV files: a runaway quote refuses the file with its line; bad rows are per-row errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from contactsync.appimport import RowError, read_app_contacts
from contactsync.matching.csvio import CsvError, read_records
from tests.test_settings import _cli

HEADER = "id,name,city\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def rows(path: Path) -> tuple[list[str], list[RowError]]:
    items = list(read_app_contacts(path))
    return [i.app_id for i in items if not isinstance(i, RowError)], [i for i in items if isinstance(i, RowError)]


@pytest.mark.parametrize(
    "body",
    [
        'a1,"Acme GmbH,Berlin\na2,Beta AG,Bonn\na3,Gamma SE,Köln\n',  # the quote runs to the end of the file
        "a1,Acme,Berlin\n" + 'a2,"Beta AG,Bonn\n' + "".join(f"a{i},Name {i},City\n" for i in range(3, 40)) + 'x,"y"\n',
    ],
)
def test_an_unclosed_quote_refuses_the_file_with_its_line(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, body)
    line = 2 if body.startswith('a1,"') else 3
    with pytest.raises(ValueError, match=f"line {line}: a quoted field opened here is not closed"):
        rows(path)
    with pytest.raises(CsvError, match=f"line {line}: a quoted field opened here is not closed"):
        read_records(path)


def test_a_quoted_address_over_two_lines_is_still_one_good_record(tmp_path: Path) -> None:
    good, bad = rows(write(tmp_path, 'a1,Acme,"Haus 2\nHinterhof"\na2,Beta,Bonn\n'))
    assert good == ["a1", "a2"] and bad == []


def test_huge_fields_nul_bytes_and_long_ids_are_errors_of_their_own_rows(tmp_path: Path) -> None:
    body = (
        f"a1,{'x' * 1_000_000},Berlin\n"
        "a2,Good One,Bonn\n"
        "a3,Nul\x00Name,Köln\n"
        f"{'i' * 300},Long Id,Ulm\n"
        "a5,Good Two,Essen\n"
    )
    good, bad = rows(write(tmp_path, body))
    assert good == ["a2", "a5"]
    assert [(e.line, e.reason.split(":")[0]) for e in bad] == [
        (2, "unreadable record"),
        (4, "name"),
        (5, "id longer than 255 characters"),
    ]


def test_import_command_refuses_the_file_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    proc = _cli(env, "contacts", "import", "t1", str(write(tmp_path, 'a1,"Acme,Berlin\na2,Beta,Bonn\n')))
    assert proc.returncode == 2
    assert "line 2: a quoted field" in proc.stderr and len(proc.stderr.splitlines()) == 1
