"""How tenant ids spread over shard queues: neighbours (a few tenants created one after another) should not
share one worker, and a large fleet should load every shard about evenly, whatever the ids look like."""

from __future__ import annotations

from collections import Counter

import pytest

from contactsync.redis_keys import shard_queues, tenant_queue

FORMATS = ["t{}", "tenant-{}", "{}", "acme-{:04d}", "org_{}_prod"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_neighbouring_ids_do_not_clump_on_one_of_two_shards(fmt: str) -> None:
    """A CRC-style hash put t0..t3 all on one of two shards (the other worker idle); a well-mixed hash puts four
    neighbours on one shard about one time in eight."""
    groups = [[fmt.format(4 * g + i) for i in range(4)] for g in range(250)]
    clumped = sum(len({tenant_queue(tid, 2) for tid in group}) == 1 for group in groups)
    assert clumped <= 0.25 * len(groups), clumped


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shards", [2, 8, 16])
def test_a_large_fleet_loads_every_shard_evenly(fmt: str, shards: int) -> None:
    counts = Counter(tenant_queue(fmt.format(i), shards) for i in range(2000))
    assert set(counts) == set(shard_queues(shards))
    mean = 2000 / shards
    assert all(0.7 * mean <= n <= 1.3 * mean for n in counts.values()), counts
