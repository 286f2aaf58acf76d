"""Importing the app's contacts from CSV: bad rows are reported and skipped, good rows imported, replay is safe."""

from __future__ import annotations

import os
import subprocess
import sys
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
    good = {i[0]: i[1] for i in items if not isinstance(i, RowError)}
    bad = [i for i in items if isinstance(i, RowError)]
    assert sorted(good) == ["a1", "a4"]
    assert good["a1"].addresses[0].city == "München" and good["a1"].is_customer
    assert good["a4"].emails == ("a@acme.co.uk", "b@acme.co.uk") and good["a4"].is_supplier
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
