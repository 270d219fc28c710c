"""The retry decision and its backoff, by a table."""

from __future__ import annotations

import random

import pytest

from dialer.policy import RetryPolicy, backoff_s, decide, failed_leg

P = RetryPolicy(max_retries=3, backoff_base_s=10, backoff_max_s=100, jitter_ratio=0)
BUSY = RetryPolicy(max_retries=3, retry_on_busy=True, backoff_base_s=10, backoff_max_s=100,
                   jitter_ratio=0)
LEG2 = RetryPolicy(max_retries=1, retry_on_leg2_failure=True, backoff_base_s=10,
                   backoff_max_s=100, jitter_ratio=0)


@pytest.mark.parametrize(
    ("policy", "n", "status", "leg1", "leg2", "retry", "delay"),
    [
        (P, 1, "completed", "completed", "completed", False, 0),
        (P, 1, "no-answer", "no-answer", None, True, 10),
        (P, 2, "no-answer", "no-answer", None, True, 20),
        (P, 3, "failed", "failed", None, True, 40),
        (P, 4, "no-answer", "no-answer", None, False, 0),  # 1 + 3 retries used up
        (P, 1, "busy", "busy", None, False, 0),  # busy: by setting
        (BUSY, 1, "busy", "busy", None, True, 10),
        (P, 1, "no-answer", "completed", "no-answer", False, 0),  # leg 2: not by default
        (LEG2, 1, "no-answer", "completed", "no-answer", True, 10),
        (LEG2, 2, "no-answer", "completed", "no-answer", False, 0),
        (P, 1, "no-answer", None, None, True, 10),  # no leg detail: charged to leg 1
        (P, 1, "failed", None, "failed", False, 0),  # only leg 2 known failed
        (P, 1, "canceled", "canceled", None, False, 0),
        (P, 1, "something-new", None, None, False, 0),
        (RetryPolicy(max_retries=0), 1, "no-answer", "no-answer", None, False, 0),
        (P, 5, "no-answer", "no-answer", None, False, 0),
        (RetryPolicy(max_retries=6, backoff_base_s=10, backoff_max_s=100, jitter_ratio=0),
         6, "failed", "failed", None, True, 100),  # capped
    ],
)
def test_decide(policy: RetryPolicy, n: int, status: str, leg1: str | None, leg2: str | None,
                retry: bool, delay: float) -> None:
    d = decide(policy, n, status, leg1, leg2)
    assert d.retry is retry, d.reason
    assert d.delay_s == pytest.approx(delay)


@pytest.mark.parametrize(
    ("status", "leg1", "leg2", "expected"),
    [
        ("completed", "completed", "completed", None),
        ("busy", "busy", None, (1, "busy")),
        ("no-answer", "completed", "no-answer", (2, "no-answer")),
        ("no-answer", None, None, (1, "no-answer")),
        ("failed", None, "completed", (1, "failed")),
    ],
)
def test_failed_leg(status: str, leg1: str | None, leg2: str | None,
                    expected: tuple[int, str] | None) -> None:
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
