"""Multi-row inserts over arrays (`store.arrays`) against a real PostgreSQL: order, JSON documents, defaults."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contactsync import db
from contactsync.models import Change, ReviewItem
from contactsync.models.base import table_of
from contactsync.store import changes as feed
from contactsync.store.arrays import insert_rows
from contactsync.store.mirror import upsert_remote_contacts
from tests.test_store import company, make_tenant


def test_rows_go_in_in_the_order_given_with_json_lists_and_defaults(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, [company(f"C{i}", remote_id=f"r{i}") for i in range(5)])
        table = table_of(ReviewItem)
        rows = [
            {"tenant_id": "t1", "remote_contact_id": rid, "candidates": [{"app_contact_id": n}] * n}
            for n, rid in enumerate(reversed(ids))
        ]
        returned = insert_rows(s, pg_insert(table).returning(table.c.id, table.c.remote_contact_id), rows)
        # In the order given (the ids a sequence hands out follow the insertion order).
        assert [r.remote_contact_id for r in sorted(returned)] == list(reversed(ids))
        items = {i.remote_contact_id: i for i in s.scalars(select(ReviewItem))}
        # A JSON document that is a list is one value (an empty one too), and defaults fill what the rows omit.
        assert [items[r["remote_contact_id"]].candidates for r in rows] == [r["candidates"] for r in rows]
        assert all(i.status == "open" and i.reason == "match" and i.created_at is not None for i in items.values())
        assert insert_rows(s, pg_insert(table), []) == []


def test_the_feed_numbers_a_commit_s_changes_after_the_last(env: dict[str, str]) -> None:
    make_tenant()
    for batch in (["a", "b", "c"], ["d"], ["e", "f"]):
        with db.session() as s:
            feed.record(
                s, "t1", [{"kind": feed.LINKED, "app_id": x, "remote_id": None, "data": {"x": [x]}} for x in batch]
            )
    with db.session() as s:
        rows = s.execute(select(Change.seq, Change.app_id, Change.data, Change.created_at).order_by(Change.seq)).all()
    assert [(r.seq, r.app_id) for r in rows] == list(enumerate("abcdef", 1))
    assert all(r.data == {"x": [r.app_id]} and r.created_at is not None for r in rows)
