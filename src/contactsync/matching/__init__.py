"""Reconciliation of contacts: pure functions over plain records, no Celery, no database.

The pipeline uses these names from here:

- `MatchRecord`: the plain record both sides are turned into.
- `blocking_keys(record) -> frozenset[str]`: the keys persisted per app contact (an indexed column in
  PostgreSQL), so a reconcile task finds candidates for a page without rebuilding any index.
- `match_candidates(left, right, model=DEFAULT_MODEL) -> list[Decision]`: decide links and reviews for a
  page of remote contacts (`left`) against the candidate app contacts found through those keys (`right`),
  one-to-one by score, with the tenant's `Model` (weights, thresholds and what its reviewers taught, see
  `learn`; `store.review.tenant_model` loads it).

`prepare(record)` turns a record into the prepared form both of these take as well: a caller that reads a
page's keys first, or meets the same app contact on several pages, prepares it once.

For whole files there is `match_all(left, right, progress=None)`, the batch path the CLI and the benchmarks
use; it takes the same decisions over the same pairs. `match_all(..., calibrate=True)` first fits the
weights to the two files by EM (`calibrate`).
"""

from contactsync.matching.engine import BlockingStats, Decision, match_all, match_candidates, prepare
from contactsync.matching.keys import blocking_keys
from contactsync.matching.model import DEFAULT_MODEL, Model
from contactsync.matching.record import MatchRecord

__all__ = [
    "DEFAULT_MODEL",
    "BlockingStats",
    "Decision",
    "MatchRecord",
    "Model",
    "blocking_keys",
    "match_all",
    "match_candidates",
    "prepare",
]
