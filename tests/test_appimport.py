"""Importing the app's contacts from CSV: bad rows are reported and skipped, good rows imported, replay is safe."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from contactsync import db
from contactsync.appimport import RowError, read_app_contacts
from contactsync.models import AppContact
from contactsync.store.tenants import upsert_tenant


def write_csv(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "\ufeffid;name;email;tax_number;city;country;is_supplier;notes\n"
        "a1;Müller & Söhne GmbH;info@mueller.de;DE 811 907 980;München;DE;;ignored\n"
        "a2;;nobody@example.com;;;;;\n"
        f"a3;{'X' * 5000};;;;;;\n"
        "a1;Duplicate;;;;;;\n"
        ";No id;;;;;;\n"
        "a4;Acme Ltd;a@acme.co.uk, b@acme.co.uk;;London;GB;yes;\n",
        encoding="utf-8",
    )
    return path


def test_rows_are_parsed_and_bad_ones_explained(tmp_path: Path) -> None:
    items = list(read_app_contacts(write_csv(tmp_path)))
    good = {i.app_id: i for i in items if not isinstance(i, RowError)}
    bad = [i for i in items if isinstance(i, RowError)]
    assert sorted(good) == ["a1", "a4"]
    assert good["a1"].contact.addresses[0].city == "München" and good["a1"].contact.is_customer
    assert good["a4"].contact.emails == ("a@acme.co.uk", "b@acme.co.uk") and good["a4"].contact.is_supplier
    # Blank cells and missing columns are unknown, and so is the app's clock without an updated_at column.
    assert "is_supplier" not in good["a1"].known_fields() and "is_customer" not in good["a1"].known_fields()
    assert "phones" not in good["a1"].known_fields() and "tax_number" in good["a1"].known_fields()
    assert "is_supplier" in good["a4"].known_fields() and "tax_number" not in good["a4"].known_fields()
    assert good["a1"].updated_at is None
    assert [e.line for e in bad] == [3, 4, 5, 6]
    assert "name" in bad[0].reason and "duplicate" in bad[2].reason and "empty id" in bad[3].reason


def test_cli_imports_good_rows_and_exits_1_on_bad_ones(env: dict[str, str], tmp_path: Path) -> None:
    with db.session() as s:
        upsert_tenant(s, "t1", name="T", dialect="merge", base_url="http://x", api_key="k", account_token="t")
    path = write_csv(tmp_path)
    for expected in ("2 created", "0 created, 0 changed, 2 unchanged"):
        proc = subprocess.run(
            [sys.executable, "-m", "contactsync", "contacts", "import", "t1", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert proc.returncode == 1, proc.stderr
        assert expected in proc.stdout
        assert "line 3:" in proc.stdout
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AppContact)) == 2


def test_updated_at_and_explicit_flags_are_read(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "id,name,is_customer,is_supplier,updated_at\n"
        "a1,Alpha,yes,no,2025-03-01T10:00:00Z\n"
        "a2,Beta,,,2025-03-01 10:00\n"
        "a3,Gamma,,,yesterday\n"
        "a4,Delta,,,1740823200\n",
        encoding="utf-8",
    )
    items = list(read_app_contacts(path))
    a1, a2, bad, a4 = items
    assert not isinstance(a1, RowError) and not isinstance(a2, RowError)
    assert a1.updated_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert a2.updated_at == datetime(2025, 3, 1, 10, tzinfo=UTC)  # no offset: UTC
    assert {"is_customer", "is_supplier"} <= a1.known_fields() and a1.contact.is_supplier is False
    assert not {"is_customer", "is_supplier"} & a2.known_fields()
    assert isinstance(bad, RowError) and "updated_at" in bad.reason
    assert not isinstance(a4, RowError) and a4.updated_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
