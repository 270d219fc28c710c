"""The account limit: at most N call-creating POSTs per account in any sliding window.

Admission times are ``time.time()`` taken under the lock, so the limit holds to the
millisecond; a refused request is not recorded and does not count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    """The verdict for one request: ``at`` is the admission (or refusal) time."""

    admitted: bool
    at: float
    retry_after_s: float = 0.0


class SlidingWindowLimiter:
    """Per-key sliding-window counter over real wall time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def admit(self, key: str, limit: int, window_s: float) -> Admission:
        with self._lock:
            now = time.time()
            hits = self._hits.setdefault(key, deque())
            cutoff = now - window_s
            while hits and hits[0] <= cutoff:
                hits.popleft()
            if len(hits) >= limit:
                # the request is admitted once enough of the oldest ones leave the window
                frees_at = hits[len(hits) - limit] + window_s
                return Admission(False, now, max(frees_at - now, 0.001))
            hits.append(now)
            return Admission(True, now)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
