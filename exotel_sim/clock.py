"""Timestamps as Exotel writes them: v1 ``YYYY-MM-DD HH:MM:SS``, v3 with ``+05:30``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def _tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def v1_time(epoch: float | None, offset_minutes: int) -> str | None:
    """``2017-03-03 10:48:33`` in the account's zone, or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, _tz(offset_minutes)).strftime("%Y-%m-%d %H:%M:%S")


def v3_time(epoch: float | None, offset_minutes: int) -> str | None:
    """``2022-11-02 23:49:51+05:30``, or None."""
    if epoch is None:
        return None
    stamp = datetime.fromtimestamp(epoch, _tz(offset_minutes)).strftime("%Y-%m-%d %H:%M:%S%z")
    return f"{stamp[:-2]}:{stamp[-2:]}"
