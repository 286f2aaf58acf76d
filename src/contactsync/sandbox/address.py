"""Merge's limit on failed requests from one address, across every account the sandbox serves on its Merge API.

Merge answers every request from an IP address with a 429 while more than 20 of that address's requests in a
rolling 10 seconds failed (an answer of 400 or more, 429 itself aside): its "global rate limit", against
scanning. Every tenant of a deployment shares the address, so one tenant's refused writes stall all of them;
`providers.failure_window` keeps a deployment under it. Off unless a test or benchmark sets it
(`PATCH /_sandbox/address`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


class AddressLimit:
    """Failed answers of the last window, all accounts together, and the 429s the limit gave. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures: int | None = None  # more failed answers than this within the window: 429 for everything
        self.window_s = 10.0
        self._failed: deque[float] = deque()
        self.limited = 0  # requests answered 429 by this limit
        self.most_in_window = 0  # the most failed answers any window held

    def configure(self, failures: int | None, window_s: float = 10.0) -> None:
        """Set (None: lift) the limit; the counts start again."""
        with self._lock:
            self.failures, self.window_s = failures, window_s
            self._failed.clear()
            self.limited = self.most_in_window = 0

    def refuses(self) -> bool:
        """Whether a request arriving now is refused (and counted so)."""
        with self._lock:
            if self.failures is None:
                return False
            self._trim(time.monotonic())
            if len(self._failed) > self.failures:
                self.limited += 1
                return True
            return False

    def answered(self, status: int) -> None:
        """Count an answer's status: 400 or more, but for a 429, is a failure."""
        if status < 400 or status == 429:
            return
        with self._lock:
            if self.failures is None:
                return
            now = time.monotonic()
            self._failed.append(now)
            self._trim(now)
            self.most_in_window = max(self.most_in_window, len(self._failed))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "failures": self.failures,
                "window_s": self.window_s,
                "limited": self.limited,
                "most_in_window": self.most_in_window,
            }

    def _trim(self, now: float) -> None:
        while self._failed and self._failed[0] <= now - self.window_s:
            self._failed.popleft()
