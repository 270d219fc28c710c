"""Calling windows, days and cron: pure functions, a table of cases each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.campaigns.pacing import fair_split
from dialer.campaigns.schedule import Cron, Window, parse_days, parse_hhmm


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("text, days", [
    ("mon-fri", {0, 1, 2, 3, 4}),
    ("weekdays", {0, 1, 2, 3, 4}),
    ("weekends", {5, 6}),
    ("*", set(range(7))),
    ("mon,wed,sat", {0, 2, 5}),
    ("fri-mon", {4, 5, 6, 0}),
    ("Sun", {6}),
])
def test_parse_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["", "monday", "mon-", "mon-fri-sat", "1-5"])
def test_bad_days_name_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="days"):
        parse_days(text)


@pytest.mark.parametrize("text", ["9", "25:00", "12:60", "ab:cd", "9-30"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).strip("'")):
        parse_hhmm(text)


# 2024-01-03 is a Wednesday. Asia/Kolkata is UTC+5:30, America/New_York UTC-5 in January.
@pytest.mark.parametrize("now, tz, window, is_open", [
    (utc(2024, 1, 3, 3, 29), "Asia/Kolkata", ("09:00", "21:00", "*"), False),  # 08:59 IST
    (utc(2024, 1, 3, 3, 30), "Asia/Kolkata", ("09:00", "21:00", "*"), True),  # 09:00 IST
    (utc(2024, 1, 3, 15, 29), "Asia/Kolkata", ("09:00", "21:00", "*"), True),  # 20:59
    (utc(2024, 1, 3, 15, 30), "Asia/Kolkata", ("09:00", "21:00", "*"), False),  # 21:00
    (utc(2024, 1, 3, 6, 30), "America/New_York", ("09:00", "21:00", "*"), False),  # 01:30
    (utc(2024, 1, 3, 14, 0), "America/New_York", ("09:00", "21:00", "*"), True),  # 09:00
    (utc(2024, 1, 6, 6, 30), "Asia/Kolkata", ("09:00", "21:00", "mon-fri"), False),  # Sat
    (utc(2024, 1, 3, 17, 0), "Asia/Kolkata", ("22:00", "02:00", "wed"), True),  # Wed 22:30
    (utc(2024, 1, 3, 19, 0), "Asia/Kolkata", ("22:00", "02:00", "wed"), True),  # Thu 00:30
    (utc(2024, 1, 4, 19, 0), "Asia/Kolkata", ("22:00", "02:00", "wed"), False),  # Fri 00:30
    (utc(2024, 1, 3, 21, 0), "Asia/Kolkata", ("22:00", "02:00", "wed"), False),  # Thu 02:30
])
def test_window_is_open(now: datetime, tz: str, window: tuple[str, str, str],
                        is_open: bool) -> None:
    assert Window.parse(*window).is_open(now, tz) is is_open


@pytest.mark.parametrize("now, tz, window, opens", [
    (utc(2024, 1, 3, 3, 0), "Asia/Kolkata", ("09:00", "21:00", "*"), utc(2024, 1, 3, 3, 30)),
    (utc(2024, 1, 3, 16, 0), "Asia/Kolkata", ("09:00", "21:00", "*"), utc(2024, 1, 4, 3, 30)),
    (utc(2024, 1, 5, 16, 0), "Asia/Kolkata", ("09:00", "21:00", "mon-fri"),
     utc(2024, 1, 8, 3, 30)),  # Friday evening → Monday
    (utc(2024, 1, 3, 6, 30), "America/New_York", ("09:00", "21:00", "*"),
     utc(2024, 1, 3, 14, 0)),
    (utc(2024, 3, 10, 5, 0), "America/New_York", ("09:00", "21:00", "*"),
     utc(2024, 3, 10, 13, 0)),  # the day clocks go forward: 09:00 EDT
])
def test_next_open(now: datetime, tz: str, window: tuple[str, str, str],
                   opens: datetime) -> None:
    w = Window.parse(*window)
    assert w.next_open(now, tz) == opens
    assert w.seconds_until_open(now, tz) == (opens - now).total_seconds()


def test_next_open_is_now_inside_the_window() -> None:
    now = utc(2024, 1, 3, 6, 30)
    assert Window.parse().next_open(now, "Asia/Kolkata") == now


def test_window_start_equal_to_end_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        Window.parse("09:00", "09:00")


@pytest.mark.parametrize("expr, after, tz, expected", [
    ("0 10 * * mon-fri", utc(2024, 1, 3, 4, 0), "Asia/Kolkata", utc(2024, 1, 3, 4, 30)),
    ("0 10 * * mon-fri", utc(2024, 1, 3, 4, 30), "Asia/Kolkata", utc(2024, 1, 4, 4, 30)),
    ("0 10 * * 1-5", utc(2024, 1, 5, 5, 0), "Asia/Kolkata", utc(2024, 1, 8, 4, 30)),
    ("*/15 * * * *", utc(2024, 1, 3, 4, 7), "UTC", utc(2024, 1, 3, 4, 15)),
    ("30 9 1 * *", utc(2024, 1, 3, 0, 0), "UTC", utc(2024, 2, 1, 9, 30)),
    ("0 0 * * 0", utc(2024, 1, 3, 0, 0), "UTC", utc(2024, 1, 7, 0, 0)),  # Sunday
    ("0 0 * * 7", utc(2024, 1, 3, 0, 0), "UTC", utc(2024, 1, 7, 0, 0)),
    ("0 12 15 * fri", utc(2024, 1, 3, 0, 0), "UTC", utc(2024, 1, 5, 12, 0)),  # dom OR dow
    ("0 8 * jun *", utc(2024, 1, 3, 0, 0), "UTC", utc(2024, 6, 1, 8, 0)),
    ("5-10/5 1 * * *", utc(2024, 1, 3, 1, 5), "UTC", utc(2024, 1, 3, 1, 10)),
])
def test_cron_next_after(expr: str, after: datetime, tz: str, expected: datetime) -> None:
    assert Cron.parse(expr).next_after(after, tz) == expected


@pytest.mark.parametrize("expr, message", [
    ("0 10 * *", "5 fields"),
    ("60 * * * *", "minute"),
    ("* 24 * * *", "hour"),
    ("* * 0 * *", "day"),
    ("* * * 13 *", "month"),
    ("* * * * funday", "weekday"),
    ("*/0 * * * *", "step"),
    ("0 0 31 feb *", "never"),
])
def test_cron_errors(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cron.parse(expr).next_after(utc(2024, 1, 1), "UTC")


@pytest.mark.parametrize("total, demands, start, expected", [
    (10, [2, 8, 8], 0, [2, 4, 4]),
    (9, [10, 10, 10], 0, [3, 3, 3]),
    (10, [10, 10, 10], 0, [4, 3, 3]),
    (10, [10, 10, 10], 2, [3, 3, 4]),
    (2, [5, 5, 5], 1, [0, 1, 1]),
    (100, [3, 0, 4], 0, [3, 0, 4]),
    (0, [3, 3], 0, [0, 0]),
    (5, [], 0, []),
])
def test_fair_split(total: int, demands: list[int], start: int, expected: list[int]) -> None:
    assert fair_split(total, demands, start) == expected
    assert sum(expected) == min(total, sum(demands))
