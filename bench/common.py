"""Shared pieces of the benchmarks: a private bundled Redis, settings, printing."""

from __future__ import annotations

import json
import platform
import tempfile
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


def machine() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"


def report(name: str, figures: dict[str, Any]) -> None:
    """One JSON line (for machines) and a table (for people)."""
    print(json.dumps({"bench": name, "machine": machine(), **figures}))
    table = Table(title=name)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
