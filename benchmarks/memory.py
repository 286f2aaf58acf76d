"""Peak memory of this process and its worker processes, sampled from /proc (Linux).

`ru_maxrss` reports one process at a time; forked workers share most pages with their parent, so summing
their RSS would count those pages twice. PSS (proportional set size) splits shared pages among the processes
that share them, so the sum of PSS over the process tree is the memory the run actually holds.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task may have ended meanwhile
            out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kib(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _pss_kib(p)
        stack.extend(_children(p))
    return total


class PeakMemory:
    """Context manager sampling the process tree's total PSS every `interval` seconds; `.peak_mib` after."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_pss_kib(pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, tree_pss_kib(os.getpid()))

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its ended (waited-for) children so far.

    The benchmark machine is shared, so wall time varies with whatever else runs; CPU time varies much less
    and says how much work a run is. Both are reported.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
