"""The retry decision and its backoff, by a table."""

from __future__ import annotations

import random

import pytest

from dialer.policy import (
    NO_EVIDENCE,
    RetryPolicy,
    backoff_s,
    decide,
    decide_without_evidence,
    failed_leg,
)

P = RetryPolicy(max_retries=3, backoff_base_s=10, backoff_max_s=100, jitter_ratio=0)
BUSY = RetryPolicy(max_retries=3, retry_on_busy=True, backoff_base_s=10, backoff_max_s=100,
                   jitter_ratio=0)
LEG2 = RetryPolicy(max_retries=1, retry_on_leg2_failure=True, backoff_base_s=10,
                   backoff_max_s=100, jitter_ratio=0)


STATUSES = [None, "completed", "failed", "no-answer", "busy", "canceled"]
LEGS = [None, "completed", "in-progress", "ringing", "failed", "no-answer", "busy", "canceled"]
FAILED = {"failed", "no-answer", "busy", "canceled"}


@pytest.mark.parametrize(
    ("policy", "n", "status", "leg1", "leg2", "retry", "delay", "evidence"),
    [
        (P, 1, "completed", "completed", "completed", False, 0, False),
        (P, 1, "completed", None, None, False, 0, False),  # answered: nothing to decide
        (P, 1, "no-answer", "no-answer", None, True, 10, False),
        (P, 2, "no-answer", "no-answer", None, True, 20, False),
        (P, 3, "failed", "failed", None, True, 40, False),
        (P, 4, "no-answer", "no-answer", None, False, 0, False),  # 1 + 3 retries used up
        (P, 1, "busy", "busy", None, False, 0, False),  # busy: by setting
        (BUSY, 1, "busy", "busy", None, True, 10, False),
        (P, 1, "no-answer", "completed", "no-answer", False, 0, False),  # leg 2: not retried
        (P, 1, "failed", "completed", "failed", False, 0, False),
        (P, 1, "busy", "completed", "busy", False, 0, False),
        (BUSY, 1, "busy", "completed", "busy", False, 0, False),  # leg 2 busy: still leg 2
        (LEG2, 1, "no-answer", "completed", "no-answer", True, 10, False),
        (LEG2, 2, "no-answer", "completed", "no-answer", False, 0, False),
        (P, 1, "no-answer", None, None, False, 0, True),  # four-field / v3 callback: look up
        (P, 1, "failed", None, None, False, 0, True),
        (P, 1, "busy", None, None, False, 0, True),
        (P, 1, "no-answer", "ringing", None, False, 0, True),  # leg 1 caught mid-way
        (P, 1, "failed", None, "failed", False, 0, False),  # leg 2 dialled: leg 1 answered
        (P, 1, "no-answer", None, "no-answer", False, 0, False),
        (LEG2, 1, "no-answer", None, "no-answer", True, 10, False),
        (P, 1, "no-answer", "in-progress", None, False, 0, False),  # leg 1 answered
        (P, 1, "canceled", "canceled", None, False, 0, False),
        (P, 1, "canceled", None, None, False, 0, False),
        (P, 1, "something-new", None, None, False, 0, False),
        (RetryPolicy(max_retries=0), 1, "no-answer", "no-answer", None, False, 0, False),
        (P, 5, "no-answer", "no-answer", None, False, 0, False),
        (RetryPolicy(max_retries=6, backoff_base_s=10, backoff_max_s=100, jitter_ratio=0),
         6, "failed", "failed", None, True, 100, False),  # capped
    ],
)
def test_decide(policy: RetryPolicy, n: int, status: str, leg1: str | None, leg2: str | None,
                retry: bool, delay: float, evidence: bool) -> None:
    d = decide(policy, n, status, leg1, leg2)
    assert d.retry is retry, d.reason
    assert d.needs_evidence is evidence, d.reason
    assert d.delay_s == pytest.approx(delay)


@pytest.mark.parametrize("policy", [P, BUSY, LEG2])
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("leg1", LEGS)
@pytest.mark.parametrize("leg2", LEGS)
def test_every_combination_decides_on_evidence(
    policy: RetryPolicy, status: str | None, leg1: str | None, leg2: str | None
) -> None:
    """The invariants over every status / leg1 / leg2 / missing combination."""
    d = decide(policy, 1, status, leg1, leg2)
    assert not (d.retry and d.needs_evidence)
    if status not in FAILED or status == "canceled":
        assert not d.retry and not d.needs_evidence  # nothing failed: nothing to retry
    leg1_answered = leg1 in {"completed", "in-progress"} or (leg1 is None and leg2 is not None)
    if d.retry:
        # a retry needs proof: leg 1 failed, or (by setting) leg 2 failed after leg 1 answered
        assert leg1 in FAILED or (policy.retry_on_leg2_failure and leg1_answered)
        assert "canceled" not in (status, leg1)
    if leg1_answered and not policy.retry_on_leg2_failure:
        assert not d.retry  # the customer is never called again for their own no-answer
    if d.needs_evidence:
        assert leg1 not in FAILED and not leg1_answered


@pytest.mark.parametrize(("status", "retry"), [("no-answer", True), ("failed", True),
                                              ("busy", False), ("completed", False)])
def test_a_flow_call_has_one_leg(status: str, retry: bool) -> None:
    d = decide(P, 1, status, None, None, one_leg=True)
    assert d.retry is retry and not d.needs_evidence


def test_no_evidence_by_the_deadline_is_no_retry() -> None:
    d = decide_without_evidence("no-answer", 600)
    assert not d.retry and "no leg evidence in 600s" in d.reason


@pytest.mark.parametrize(
    ("status", "leg1", "leg2", "expected"),
    [
        ("completed", "completed", "completed", None),
        ("busy", "busy", None, (1, "busy")),
        ("no-answer", "completed", "no-answer", (2, "no-answer")),
        ("no-answer", None, None, NO_EVIDENCE),
        ("failed", None, "completed", (2, "failed")),
    ],
)
def test_failed_leg(status: str, leg1: str | None, leg2: str | None, expected: object) -> None:
    assert failed_leg(status, leg1, leg2) == expected


def test_jitter_stays_within_its_ratio() -> None:
    p = RetryPolicy(backoff_base_s=100, backoff_max_s=1000, jitter_ratio=0.2)
    rand = random.Random(7)
    values = [backoff_s(p, 1, rand) for _ in range(500)]
    assert min(values) >= 80 and max(values) <= 120
    assert max(values) - min(values) > 10  # it does jitter


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"backoff_base_s": 10, "backoff_max_s": 5}, {"jitter_ratio": 2}],
)
def test_invalid_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
