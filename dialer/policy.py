"""Pure decisions: first-leg retries and their backoff. No Redis, no Celery, no clock.

A call is retried only when its FIRST leg (the From number; the only leg of a flow call)
ended failed or no-answer — or busy when ``retry_on_busy`` — and only while attempts
remain: attempt ``n`` (1-based) may be followed by another while ``n <= max_retries``.
A second-leg failure is not retried unless ``retry_on_leg2_failure``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAILED_STATUSES = frozenset({"failed", "no-answer", "busy", "canceled"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    retry_on_busy: bool = False
    retry_on_leg2_failure: bool = False
    backoff_base_s: float = 30.0
    backoff_max_s: float = 600.0
    jitter_ratio: float = 0.2

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError(
                f"backoff must satisfy 0 <= base <= max, got {self.backoff_base_s!r}, "
                f"{self.backoff_max_s!r}"
            )
        if not 0 <= self.jitter_ratio <= 1:
            raise ValueError(f"jitter_ratio must be within [0, 1], got {self.jitter_ratio!r}")


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay_s: float  # 0 when not retrying
    reason: str


def failed_leg(status: str | None, leg1: str | None, leg2: str | None) -> tuple[int, str] | None:
    """Which leg ended the call unsuccessfully, and how: ``(1|2, status)`` or ``None``.

    With leg statuses, the first leg that did not succeed decides. Without them, an
    unsuccessful overall status is charged to the first leg unless leg 2 is known.
    """
    if leg1 in FAILED_STATUSES:
        return 1, leg1
    if leg1 is not None and leg2 in FAILED_STATUSES:
        return 2, leg2
    if status in FAILED_STATUSES:
        if leg1 is None and leg2 is None:
            return 1, status
        if leg2 is not None and leg2 not in FAILED_STATUSES:
            return 1, status
        return 2, status
    return None


def backoff_s(policy: RetryPolicy, retry_number: int, rand: random.Random | None = None) -> float:
    """Delay before retry ``retry_number`` (1-based): exponential, capped, with jitter."""
    base = min(policy.backoff_max_s, policy.backoff_base_s * (2 ** max(0, retry_number - 1)))
    if policy.jitter_ratio and base:
        r = (rand or random).uniform(-policy.jitter_ratio, policy.jitter_ratio)
        base = base * (1 + r)
    return max(0.0, min(base, policy.backoff_max_s * (1 + policy.jitter_ratio)))


def decide(
    policy: RetryPolicy,
    attempt_number: int,
    status: str | None,
    leg1: str | None = None,
    leg2: str | None = None,
    rand: random.Random | None = None,
) -> Decision:
    """Whether a terminal attempt gets another attempt, and after how long."""
    failed = failed_leg(status, leg1, leg2)
    if failed is None:
        return Decision(False, 0.0, "succeeded")
    leg, how = failed
    if how == "canceled":
        return Decision(False, 0.0, "canceled")
    if leg == 2 and not policy.retry_on_leg2_failure:
        return Decision(False, 0.0, f"leg 2 {how}: not retried")
    if how == "busy" and not policy.retry_on_busy:
        return Decision(False, 0.0, f"leg {leg} busy: not retried")
    if attempt_number > policy.max_retries:
        return Decision(False, 0.0, f"leg {leg} {how}: retries exhausted")
    return Decision(True, backoff_s(policy, attempt_number, rand), f"leg {leg} {how}: retry")
