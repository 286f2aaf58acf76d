"""Counters recorded in this process, read back as a scrape adds them up: prometheus-client's multiprocess files
in `PROMETHEUS_MULTIPROC_DIR` (the suite's conftest gives it a directory of its own; other test processes may
count into it too, so each assertion is on a label value of this test's own, or on what may never appear)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from contactsync import metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape() -> Samples:
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_walk_restarts_are_counted_by_dialect_and_never_as_contacts() -> None:
    before = _scrape()
    metrics.count_contacts({"walk_restarts": 2, "api_calls": 5, "quarantined": 0})
    metrics.count_walk_restart("dialect-of-this-test")
    metrics.count_walk_restart("dialect-of-this-test")
    after = _scrape()
    key = ("contactsync_walk_restarts_total", (("dialect", "dialect-of-this-test"),))
    assert after.get(key, 0) - before.get(key, 0) == 2
    stages = {dict(labels).get("stage") for name, labels in after if name == "contactsync_contacts_total"}
    assert "walk_restarts" not in stages and "api_calls" not in stages
