"""``dialer`` — the command line. An edge: it reads the settings and passes them down.

Exit codes: 0 ok, 1 failure, 2 bad usage or bad input (click's convention), 3 settings,
4 not found, 5 Redis unreachable.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dialer import __version__
from dialer.campaigns.cli import campaign
from dialer.cli_helpers import PORT, check_listen, check_redis, fail, redis_of, settings_of
from dialer.demo import demo
from dialer.errors import (
    DialerError,
    ValidationError,
)
from dialer.flower_cli import flower
from exotel_sim.cli import simulator

F = TypeVar("F", bound=Callable[..., Any])

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dialer")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """exotel-dialer: a distributed call queue for the Exotel telephony API.

    Settings come from DIALER_* environment variables and ./.env (see the README).
    """
    ctx.ensure_object(dict)["debug"] = debug


@main.command("redis")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="AOF data directory (default: DIALER_REDIS_DATA_DIR or .dialer/redis).")
@click.option("--port", type=PORT, default=6379, show_default=True, help="0 = a free port.")
@click.pass_context
def redis_cmd(ctx: click.Context, data_dir: Path | None, port: int) -> None:
    """Run the bundled redis-server in the foreground and print its URL."""
    from dialer.embedded import EmbeddedRedis

    settings = settings_of(ctx)
    server = EmbeddedRedis(data_dir or settings.redis_data_dir, port=port or None)
    try:
        if port:
            check_listen("127.0.0.1", port)
        server.start()
    except DialerError as exc:
        fail(exc, ctx.obj["debug"])
    click.echo(f"DIALER_REDIS_URL={server.url}")
    click.echo(f"data: {server.data_dir} (AOF); Ctrl-C stops it", err=True)
    code = 0
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        if server.proc is not None:  # it stopped on its own: say so, exit non-zero
            click.echo(f"error: redis-server exited with code {server.proc.returncode}; "
                       f"see {server.data_dir / 'redis.log'}", err=True)
            code = 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    sys.exit(code)


def _celery(args: list[str]) -> None:
    """Become Celery (exec): signals reach it directly, SIGTERM is its warm shutdown, and
    no wrapper process is left behind to exit before it."""
    cmd = [sys.executable, "-m", "celery", "-A", "workers.app", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(cmd[0], cmd, os.environ.copy())


@main.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=int, default=8, show_default=True)
@click.option("--pool", type=click.Choice(["threads", "prefork", "solo"]), default="threads",
              show_default=True)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker_cmd(ctx: click.Context, concurrency: int, pool: str, extra: tuple[str, ...]) -> None:
    """Run a Celery worker on the calls, results and scheduling queues."""
    check_redis(ctx, settings_of(ctx))
    _celery(["worker", "-Q", "calls,results,scheduling", "-P", pool, "-c", str(concurrency),
             "-l", "INFO", *extra])


@main.command("beat", context_settings={"ignore_unknown_options": True})
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def beat_cmd(ctx: click.Context, extra: tuple[str, ...]) -> None:
    """Run Celery beat (one per host; the lease holder sends): pump, sweeper, poller, campaigns."""
    check_redis(ctx, settings_of(ctx))
    Path(".dialer").mkdir(parents=True, exist_ok=True)
    _celery(["beat", "-l", "INFO", "-s", ".dialer/celerybeat-schedule", *extra])


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8000, show_default=True)
@click.pass_context
def web_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API and the StatusCallback endpoint (OpenAPI at /docs)."""
    import uvicorn

    from dialer import access_log

    check_redis(ctx, settings_of(ctx))
    try:
        check_listen(host, port)
    except DialerError as exc:
        fail(exc, ctx.obj["debug"])
    uvicorn.run("dialer.web:app_from_env", factory=True, host=host, port=port,
                log_level="info", log_config=access_log.log_config())


@main.command("call")
@click.option("--account", default=None, help="Account name (default: the first).")
@click.option("--mode", type=click.Choice(["connect", "flow", "v3"]), default="connect",
              show_default=True)
@click.option("--from", "from_", required=True, help="Called first (agent, or customer).")
@click.option("--to", default=None, help="The customer (connect, v3).")
@click.option("--caller-id", default=None, help="ExoPhone (default: the account's).")
@click.option("--app-id", default=None, help="Call flow id (flow mode).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any Exotel parameter, e.g. TimeLimit=600 (repeatable).")
@click.option("--idempotency-key", default=None)
@click.pass_context
def call_cmd(ctx: click.Context, account: str | None, mode: str, from_: str, to: str | None,
             caller_id: str | None, app_id: str | None, params: tuple[str, ...],
             idempotency_key: str | None) -> None:
    """Enqueue one call and print its id."""
    from dialer.producer import Producer
    from dialer.publisher import CeleryPublisher, broker_app

    settings = settings_of(ctx)
    extra: dict[str, str] = {}
    for p in params:
        if "=" not in p:
            fail(ValidationError(f"--param {p!r}: expected NAME=VALUE"), ctx.obj["debug"])
        name, value = p.split("=", 1)
        extra[name] = value
    client = redis_of(ctx, settings)
    producer = Producer(client, settings, CeleryPublisher(broker_app(settings)))
    request = {"account": account, "mode": mode, "from": from_, "to": to,
               "caller_id": caller_id, "app_id": app_id, "params": extra,
               "idempotency_key": idempotency_key}
    try:
        call_id = producer.enqueue(request)
    except DialerError as exc:
        fail(exc, ctx.obj["debug"])
    click.echo(call_id)


@main.command("status")
@click.argument("call_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status_cmd(ctx: click.Context, call_id: str, as_json: bool) -> None:
    """Show a call, its attempts, each leg's status and timestamps."""
    from rich.console import Console
    from rich.table import Table

    from dialer.keys import Keys
    from dialer.status import call_view
    from dialer.store import Store

    settings = settings_of(ctx)
    store = Store(redis_of(ctx, settings), Keys(settings.key_prefix))
    try:
        view = call_view(store, call_id)
    except DialerError as exc:
        fail(exc, ctx.obj["debug"])
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    console = Console()
    console.print(f"call [bold]{view['id']}[/] account {view['account']} mode {view['mode']}: "
                  f"[bold]{view['state']}[/]")
    console.print(f"from {view['from_number'] or '-'} to {view['to_number'] or '-'}"
                  + (f" · campaign {view['campaign_id']}" if view["campaign_id"] else ""))
    facts = [f"{name} {view[key]}" for name, key in (
        ("duration", "duration_s"), ("price", "price"), ("recording", "recording_url"))
        if view[key] is not None]
    if facts:
        console.print(" · ".join(facts))
    if view["waiting_for"]:
        console.print(f"waiting for: {view['waiting_for']}")
    table = Table("#", "state", "call sid", "leg 1", "leg 2", "claimed", "ended", "detail",
                  "retry decision")
    for a in view["attempts"]:
        table.add_row(*(str(a.get(k) or "") for k in (
            "n", "state", "call_sid", "leg1_status", "leg2_status", "claimed_at",
            "terminal_at", "detail", "decision_reason")))
    console.print(table)


@main.command("unknown")
@click.pass_context
def unknown_cmd(ctx: click.Context) -> None:
    """List calls whose outcome stayed unknown (never redialled: check them by hand)."""
    from rich.console import Console
    from rich.table import Table

    from dialer.keys import Keys
    from dialer.status import iso_ms
    from dialer.store import Store, call_id_of

    settings = settings_of(ctx)
    store = Store(redis_of(ctx, settings), Keys(settings.key_prefix))
    table = Table("call id", "attempt", "since", "status", "detail")
    looking = store.zset_items(store.keys.unknown)
    for label, rows in (("given up", store.unresolved()), ("still looking up", looking)):
        for aid, _ in rows:
            attempt = store.hash(store.keys.attempt(aid))
            table.add_row(call_id_of(aid), aid, iso_ms(attempt.get("outcome_at")) or "",
                          label, attempt.get("detail", ""))
    Console().print(table)


def _check_port_first(command: click.Command) -> click.Command:
    """A taken ``--port`` of ``command`` is one line and exit 1, not the server's traceback
    (the simulator's own CLI lives in exotel_sim, which knows nothing of the dialer)."""
    callback = command.callback
    if callback is None:  # pragma: no cover
        return command
    for param in command.params:
        if param.name == "port" and isinstance(param, click.Option):
            param.type = PORT

    def checked(*args: Any, **kwargs: Any) -> Any:
        port = kwargs.get("port")
        if port:
            try:
                check_listen(str(kwargs.get("host") or "127.0.0.1"), int(port))
            except DialerError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
        return callback(*args, **kwargs)

    command.callback = checked
    return command


# command groups that live beside the concept they drive
main.add_command(_check_port_first(simulator))
main.add_command(campaign)
main.add_command(flower)
main.add_command(demo)


if __name__ == "__main__":  # pragma: no cover
    main()
