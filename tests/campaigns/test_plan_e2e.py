"""The campaign plan against reality (issue 19): a campaign on the simulator at
accelerated time — a scaled limit, two zones whose windows open seconds apart, seeded
outcome odds, retries — finishes within 10 % of the planned time and makes within 5 % of
the planned attempts. The 5,000-contact run is ``python -m bench.bench_campaign_plan``;
this one has 600 contacts (real Redis, two Celery worker processes, beat, web)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plan_check import Check, run

pytestmark = pytest.mark.slow


def test_the_plan_matches_the_run(redis_url: str, tmp_path: Path) -> None:
    figures = run(redis_url, tmp_path, Check(contacts=600, cpm=900, timeout_s=120))
    print(figures)
    assert figures["finish_error"] <= 0.10, figures
    assert figures["attempts_error"] <= 0.05, figures
    assert "pace" in figures["bound_by"] and "windows" in figures["bound_by"], figures
    low, high = figures["planned_range_s"]
    assert low <= figures["actual_s"] <= high, figures
