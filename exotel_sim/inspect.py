"""Reading the simulator's request log: call POSTs, the attempt each carried, windows.

Used by the tests, the demo, the benchmarks and the chaos runs to judge the dialer by
Exotel's side of the wire (the simulator's arrival times), not by its own records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def call_posts(requests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every call-creating POST in ``requests`` (``sim.requests()``), whatever it answered."""
    return [r for r in requests
            if r.get("method") == "POST" and ("/Calls/connect" in r.get("path", "")
                                              or r.get("path", "").endswith("/calls"))]


def counted_requests(requests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Voice API request in ``requests`` that counted against the account limit —
    call POSTs and GETs (v1 details, bulk details, v3 details and legs) alike — in arrival
    order. Each is the request record: ``method``, ``path``, ``account_sid``,
    ``arrival_time`` (epoch seconds, when the limiter admitted it), ``status_code`` …
    ``max_in_window([r["arrival_time"] for r in counted_requests(sim.requests())], 60)``
    is the most the account saw in any window."""
    return sorted((r for r in requests if r.get("counted")), key=lambda r: r["arrival_time"])


def attempt_of(post: dict[str, Any]) -> str | None:
    """The attempt id a POST carried in CustomField (``<attempt id>|…``)."""
    params = post.get("params") or {}
    custom = params.get("CustomField") or params.get("custom_field")
    return str(custom).split("|", 1)[0] if custom else None


def max_in_window(times: Sequence[float], window_s: float) -> int:
    """The most events in any half-open window ``(t - window_s, t]``."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def windows_over(times: Sequence[float], window_s: float, limit: int) -> int:
    """How many events were the (limit+1)-th or later within a window: 0 when it held."""
    ordered = sorted(times)
    over, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window_s:
            j += 1
        if i - j + 1 > limit:
            over += 1
    return over
