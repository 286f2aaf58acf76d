"""The Grafana dashboard charts what the project exports: every series it queries is one contactsync writes, and
every metric contactsync writes has a panel. A renamed metric or a new one without a chart fails here, not on an
operator's empty panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from contactsync import metrics
from contactsync.metrics.state import StateCollector

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "contactsync-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exported() -> dict[str, set[str]]:
    """Each metric family contactsync exports, with the series names a scrape shows for it."""
    families = [
        family
        for value in vars(metrics).values()
        if isinstance(value, MetricWrapperBase)
        for family in value.describe()
    ]
    families += list(StateCollector().describe())
    return {family.name: {family.name + suffix for suffix in SUFFIXES[family.type]} for family in families}


def _queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    return {name for expr in exprs for name in re.findall(r"\bcontactsync_[a-z0-9_]+", expr)}


def test_every_series_the_dashboard_queries_is_exported() -> None:
    series = set().union(*_exported().values())
    assert _queried() - series == set()


def test_every_exported_metric_has_a_panel() -> None:
    queried = _queried()
    uncharted = [name for name, series in _exported().items() if not series & queried]
    assert uncharted == []


def test_the_families_are_found() -> None:
    # The two tests above are only as good as the lists they compare: both must hold the known families.
    exported = _exported()
    assert {"contactsync_runs", "contactsync_walk_restarts", "contactsync_queue_length"} <= exported.keys()
    assert "contactsync_walk_restarts_total" in _queried()
