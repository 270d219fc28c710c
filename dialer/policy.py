"""Pure decisions: first-leg retries and their backoff. No Redis, no Celery, no clock.

A call is retried only when its FIRST leg (the From number; the only leg of a flow call)
ended failed or no-answer — or busy when ``retry_on_busy`` — and only while attempts
remain: attempt ``n`` (1-based) may be followed by another while ``n <= max_retries``.
A second-leg failure is not retried unless ``retry_on_leg2_failure``.

A retry is decided on evidence, never on a guess: an unsuccessful overall status says
nothing about WHICH leg failed. Exotel's four-field v1 StatusCallback and every v3
callback carry no leg statuses, so :func:`failed_leg` answers :data:`NO_EVIDENCE` for
them and :func:`decide` returns a decision that ``needs_evidence``: the caller records the
status, looks the legs up (v1 call details, v3 legs) and decides again. Without evidence
by the deadline the call is not retried (:func:`decide_without_evidence`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

FAILED_STATUSES = frozenset({"failed", "no-answer", "busy", "canceled"})
# a leg in one of these was answered (or is talking): it did not fail
ANSWERED_LEG_STATUSES = frozenset({"completed", "in-progress", "answered"})


class _NoEvidence:
    def __repr__(self) -> str:
        return "NO_EVIDENCE"


NO_EVIDENCE: Final = _NoEvidence()
"""What :func:`failed_leg` answers when the legs do not tell which one failed."""


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
    needs_evidence: bool = False  # no leg statuses yet: look them up, then decide again


def failed_leg(
    status: str | None, leg1: str | None, leg2: str | None, *, one_leg: bool = False
) -> tuple[int, str] | None | _NoEvidence:
    """Which leg ended the call unsuccessfully, and how.

    Returns ``(1|2, status)``, ``None`` when the call did not fail, or
    :data:`NO_EVIDENCE` when it failed and the legs do not say which one. ``one_leg``
    (a flow call) charges the overall status to its only leg.

    Exotel dials leg 2 only after leg 1 answered, so any known leg-2 status proves that
    leg 1 answered.
    """
    if status not in FAILED_STATUSES:
        return None
    if one_leg:
        return 1, status
    if leg1 in FAILED_STATUSES:
        return 1, leg1
    if leg1 in ANSWERED_LEG_STATUSES or (leg1 is None and leg2 is not None):
        return 2, leg2 if leg2 in FAILED_STATUSES else status
    return NO_EVIDENCE  # no legs, or leg 1 caught mid-way ("ringing", "queued", …)


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
    *,
    one_leg: bool = False,
) -> Decision:
    """Whether a terminal attempt gets another attempt, and after how long."""
    if status == "canceled":
        return Decision(False, 0.0, "canceled")
    failed = failed_leg(status, leg1, leg2, one_leg=one_leg)
    if failed is None:
        return Decision(False, 0.0, "succeeded" if status == "completed" else f"{status}")
    if isinstance(failed, _NoEvidence):
        return Decision(False, 0.0, f"{status}: which leg failed is not known yet",
                        needs_evidence=True)
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


def decide_without_evidence(status: str | None, deadline_s: float) -> Decision:
    """The safe default when no leg evidence came in ``deadline_s``: no retry."""
    return Decision(False, 0.0, f"{status}: no leg evidence in {deadline_s:g}s: not retried")
