"""Shared pieces of the benchmarks: a private bundled Redis, settings, printing."""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from dialer.embedded import EmbeddedRedis
from dialer.settings import Settings

ACCOUNT = {"name": "main", "sid": "AC_SIM", "api_key": "sim_key", "api_token": "sim_token",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}


@contextmanager
def private_redis() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        yield server.url


def settings_for(redis_url: str, **kw: Any) -> Settings:
    return Settings(redis_url=redis_url, accounts=[ACCOUNT], **kw)


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def cpu_s(r: redis.Redis) -> float:
    """CPU seconds used so far by this process and by the Redis server behind ``r``.

    A rate per CPU second (work / the growth of this) hardly moves with the machine's
    load, where a rate per wall-clock second does: the benchmarks report both.
    """
    info = r.info("cpu")
    return time.process_time() + float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def machine() -> str:
    import os

    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.machine()} {os.cpu_count()} cpu{mem}, "
            f"Python {platform.python_version()}")


def console() -> Console:
    """The tables' console: stderr, wide enough for them when it is not a terminal."""
    out = Console(stderr=True)
    return out if out.is_terminal else Console(stderr=True, width=160)


def report(name: str, figures: dict[str, Any]) -> None:
    """One JSON line (for machines) and a table (for people)."""
    print(json.dumps({"bench": name, "machine": machine(), **figures}), flush=True)
    table = Table(title=name)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    console().print(table)


def report_rows(name: str, rows: list[dict[str, Any]], **figures: Any) -> None:
    """One JSON line with ``rows`` (for machines) and a table of them (for people)."""
    print(json.dumps({"bench": name, "machine": machine(), **figures, "rows": rows}),
          flush=True)
    table = Table(title=name)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for column in columns:
        table.add_column(column, justify="left" if column in ("method", "clocks") else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(c, ""), c) for c in columns))
    console().print(table)
    for key, value in figures.items():
        console().print(f"{key}: {_cell(value)}")


def _cell(value: Any, column: str = "") -> str:
    if column == "utilisation" and isinstance(value, int | float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)
