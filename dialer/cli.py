"""``dialer`` — the command line. An edge: it reads the settings and passes them down.

Exit codes: 0 ok, 1 failure, 2 bad usage or bad input (click's convention), 3 settings,
4 not found, 5 Redis unreachable.
"""

from __future__ import annotations

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
from dialer.cli_calls import COMMANDS as CALL_COMMANDS
from dialer.cli_helpers import PORT, check_listen, check_redis, fail, settings_of
from dialer.demo import demo
from dialer.errors import DialerError
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
for command in CALL_COMMANDS:  # call, status, unknown, resolve
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
