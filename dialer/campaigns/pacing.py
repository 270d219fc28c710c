"""Pure pacing arithmetic: the campaigns' share of an account's limit, and a fair split.

No Redis, no clock: the token buckets that hold the budgets live in
:mod:`dialer.campaigns.budget`; these functions decide the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence


def account_rate_per_s(admitted: int, window_s: float, share: float) -> float:
    """Calls per second all campaigns of one account may start together."""
    return admitted * share / window_s


def max_calls_per_minute(admitted: int, window_s: float, share: float) -> float:
    """The highest pace one campaign may ask for: the account's campaign share."""
    return account_rate_per_s(admitted, window_s, share) * 60.0


def burst_for(rate_per_s: float, tick_s: float) -> float:
    """Bucket capacity: two ticks' worth, and never less than one call."""
    return max(1.0, rate_per_s * max(1.0, 2.0 * tick_s))


def fair_split(total: int, demands: Sequence[int], start: int = 0) -> list[int]:
    """Share ``total`` among ``demands``: equal shares, capped by each demand, and what
    one does not need goes to the others (water filling). Odd units go round robin from
    index ``start`` so that no campaign is always last.

    >>> fair_split(10, [2, 8, 8])
    [2, 4, 4]
    """
    n = len(demands)
    alloc = [0] * n
    remaining = max(0, total)
    active = [i for i in range(n) if demands[i] > 0]
    while remaining > 0 and active:
        share = remaining // len(active)
        if share == 0:
            order = sorted(active, key=lambda i: (i - start) % n)
            for i in order[:remaining]:
                alloc[i] += 1
            break
        for i in active:
            give = min(share, demands[i] - alloc[i])
            alloc[i] += give
            remaining -= give
        active = [i for i in active if alloc[i] < demands[i]]
    return alloc
