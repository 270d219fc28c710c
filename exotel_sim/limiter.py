"""The account limit: at most N Voice API requests per account in any sliding window.

Admission times are ``time.time()`` taken under the lock, so the limit holds to the
millisecond; a refused request is not recorded and does not count. Every verdict carries
what the ``X-RateLimit-*`` headers say: the limit, the requests left in the window after
this one, and ``reset_at`` — the epoch second at which the oldest request in the window
leaves it, i.e. when a slot frees (developer.exotel.com/docs/advanced-config/rate-limiting
documents X-RateLimit-Reset as an "epoch timestamp when the window resets").
"""

from __future__ import annotations

import math
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
    limit: int = 0
    remaining: int = 0
    reset_at: float = 0.0

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (and, when refused, ``Retry-After``) for the answer."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.admitted:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return out


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
                return Admission(False, now, max(frees_at - now, 0.001), limit, 0, frees_at)
            hits.append(now)
            return Admission(True, now, 0.0, limit, limit - len(hits), hits[0] + window_s)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
