"""Pieces every ``dialer`` subcommand shares: settings and Redis from the environment,
one-line failures with the documented exit codes, port checks, tables that never cut an id.

Exit codes: 0 ok, 1 failure, 2 bad usage or bad input (click's convention), 3 settings,
4 not found, 5 Redis unreachable.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import click

from dialer.errors import (
    DialerError,
    NotFoundError,
    RedisUnavailableError,
    SettingsError,
    ValidationError,
)
from dialer.settings import Settings, load_settings

EXIT_CODES: list[tuple[type[DialerError], int]] = [
    (SettingsError, 3),
    (NotFoundError, 4),
    (RedisUnavailableError, 5),
    (ValidationError, 2),
    (DialerError, 1),
]


def fail(exc: DialerError, debug: bool) -> NoReturn:
    if debug:
        raise exc
    click.echo(f"error: {exc}", err=True)
    code = next(c for cls, c in EXIT_CODES if isinstance(exc, cls))
    sys.exit(code)


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings()
        except SettingsError as exc:
            fail(exc, obj.get("debug", False))
    settings: Settings = obj["settings"]
    return settings


def check_redis(ctx: click.Context, settings: Settings) -> None:
    """Fail fast (exit 3 without a URL, 5 when it does not answer) before any real work."""
    from dialer import redis_conn

    if not settings.redis_url:
        fail(SettingsError("DIALER_REDIS_URL is empty; start `dialer redis` and set it"),
              ctx.obj.get("debug", False))
    try:
        redis_conn.check(settings)
    except DialerError as exc:
        fail(exc, ctx.obj.get("debug", False))


def redis_of(ctx: click.Context, settings: Settings) -> Any:
    from dialer import redis_conn

    check_redis(ctx, settings)
    return redis_conn.client_for(settings)


def check_listen(host: str, port: int) -> None:
    """Raise ``DialerError`` unless ``host:port`` can be listened on right now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValidationError(f"--host {host!r}: cannot be resolved ({exc})",
                              field="host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise DialerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


PORT = click.IntRange(0, 65535)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                full: Sequence[str] = (), title: str | None = None,
                console: Any = None) -> None:
    """Print rows so that no id is ever cut.

    Piped (not a terminal): tab-separated lines, the header first — whole values, for
    ``cut`` / ``awk``. On a terminal: a table whose ``full`` columns (ids, URLs) never wrap
    or shrink; a terminal narrower than they need gets the table at the width they need
    (the terminal wraps the lines, not the ids).
    """
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Column, Table
    from rich.text import Text

    console = console or Console()
    text_rows = [["" if v is None else str(v) for v in row] for row in rows]
    if not console.is_terminal:
        for line in ([*columns], *text_rows):
            console.file.write("\t".join(" ".join(v.split()) for v in line) + "\n")
        console.file.flush()
        return
    table = Table(*(Column(c, no_wrap=c in full, overflow="fold") for c in columns),
                  title=title)
    for row in text_rows:
        table.add_row(*(Text(v) for v in row))
    needed = Measurement.get(console, console.options.update_width(100_000), table).minimum
    width = console.width
    try:
        console.width = max(width, needed)
        console.print(table)
    finally:
        console.width = width
