"""What a batch reports besides its decisions: progress as it goes, and what blocking did."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contactsync.matching.model import Model

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) with stage "prepare" or "score"."""


@dataclass(slots=True)
class BlockingStats:
    """What blocking did: how many pairs it produced and how many keys it set aside as too common."""

    pairs: int = 0
    skipped_keys: int = 0
    model: Model | None = None  # the model that decided (after calibration, if asked for)
