"""The sync core stays pure: no Celery, no database, no HTTP, so its rules run and are tested as plain functions."""

from __future__ import annotations

import ast
from pathlib import Path

import contactsync.sync

FORBIDDEN = ("celery", "kombu", "sqlalchemy", "psycopg", "redis", "httpx", "contactsync.db", "contactsync.store",
             "contactsync.models", "contactsync.tasks", "contactsync.worker", "contactsync.providers")  # fmt: skip


def test_the_sync_package_imports_nothing_impure() -> None:
    root = Path(contactsync.sync.__file__).parent
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN)]
    assert found == []
    assert len(list(root.glob("*.py"))) >= 5  # planning, walks, echo, evidence and the package itself were read
