"""The write planner's merge rules, called directly."""

from __future__ import annotations

from datetime import UTC, datetime

from contactsync.planning import PairState, plan_pair

OLD = datetime(2024, 1, 1, tzinfo=UTC)
NEW = datetime(2025, 6, 1, tzinfo=UTC)


def state(app: dict[str, object], remote: dict[str, object], **kw: object) -> PairState:
    base = {
        "app_content": app,
        "app_hash": "a2",
        "app_updated_at": OLD,
        "remote_content": remote,
        "remote_hash": "r2",
        "remote_updated_at": OLD,
        "app_synced_hash": "a1",
        "remote_synced_hash": "r1",
    }
    base.update(kw)
    return PairState(**base)  # type: ignore[arg-type]


def test_nothing_changed_plans_nothing() -> None:
    plan = plan_pair(state({"name": "A"}, {"name": "B"}, app_synced_hash="a2", remote_synced_hash="r2"))
    assert plan.in_sync


def test_only_app_changed_overwrites_remote_even_with_blank() -> None:
    plan = plan_pair(
        state({"name": "A", "tax_number": None}, {"name": "B", "tax_number": "X"}, remote_synced_hash="r2")
    )
    assert plan.to_remote == {"name": "A", "tax_number": None}
    assert plan.to_app == {}


def test_only_remote_changed_overwrites_app() -> None:
    plan = plan_pair(state({"name": "A"}, {"name": "B"}, app_synced_hash="a2"))
    assert plan.to_app == {"name": "B"}
    assert plan.to_remote == {}


def test_both_changed_fills_blanks_both_ways_and_newer_wins_conflicts() -> None:
    plan = plan_pair(
        state(
            {"name": "A", "tax_number": None, "emails": ["a@x.de"]},
            {"name": "B", "tax_number": "DE1", "emails": []},
            remote_updated_at=NEW,
        )
    )
    assert plan.to_app == {"name": "B", "tax_number": "DE1"}
    assert plan.to_remote == {"emails": ["a@x.de"]}
    assert plan.conflicts == ("name",)


def test_new_link_with_app_newer_pushes_app_value() -> None:
    plan = plan_pair(
        state({"name": "A"}, {"name": "B"}, app_synced_hash=None, remote_synced_hash=None, app_updated_at=NEW)
    )
    assert plan.to_remote == {"name": "A"}
    assert plan.conflicts == ("name",)


def test_deleted_remote_is_never_written() -> None:
    plan = plan_pair(state({"name": "A"}, {"name": "B"}, remote_synced_hash="r2", remote_deleted=True))
    assert plan.to_remote == {}


def test_conflict_policy_names_the_master_side() -> None:
    both = {"app_synced_hash": None, "remote_synced_hash": None, "remote_updated_at": NEW}
    newer = plan_pair(state({"name": "A"}, {"name": "B"}, **both))
    app = plan_pair(state({"name": "A"}, {"name": "B"}, conflict_policy="app", **both))
    platform = plan_pair(
        state({"name": "A", "tax_number": None}, {"name": "B", "tax_number": "X"}, conflict_policy="platform", **both)
    )
    assert newer.to_app == {"name": "B"}
    assert app.to_remote == {"name": "A"} and app.to_app == {}
    assert platform.to_app == {"name": "B", "tax_number": "X"}  # blanks still filled
