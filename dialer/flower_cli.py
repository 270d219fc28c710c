"""``dialer flower``: Flower, the Celery monitor, with the dialer's configuration.

It runs ``python -m celery -A workers.app flower --conf=<config/flowerconfig.py>`` in place
of this process (signals reach Flower directly). Flower listens on loopback by default;
any other address needs basic auth (``--basic-auth`` or ``DIALER_FLOWER_BASIC_AUTH``),
which reaches Flower through the environment, never its command line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

BASIC_AUTH_ENV = "DIALER_FLOWER_BASIC_AUTH"
CONF_ENV = "DIALER_FLOWER_CONF"
CONFIG_NAME = "flowerconfig.py"
# "scheme://user:password@" -> the password; it stops at whitespace, quotes and "/".
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)[^\s/'\"]*@")


def find_config(explicit: Path | None = None) -> Path | None:
    """The Flower config: ``explicit``, else ``config/flowerconfig.py`` beside the package
    (a source checkout or an editable install), else under the working directory (the
    Docker image), else None (Flower's defaults plus our command-line options)."""
    if explicit is not None:
        if not explicit.is_file():
            raise click.BadParameter(f"{str(explicit)!r} is not a file", param_hint="--conf")
        return explicit.resolve()
    candidates = [Path(__file__).resolve().parents[1] / "config" / CONFIG_NAME,
                  Path.cwd() / "config" / CONFIG_NAME]
    return next((p for p in candidates if p.is_file()), None)


def censor(value: Any) -> Any:
    """``value`` with every URL password replaced by ``***`` (dicts and lists walked)."""
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\g<head>***@", value)
    if isinstance(value, dict):
        return {k: censor(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [censor(v) for v in value]
    return value


def censor_worker_conf() -> None:
    """Make Flower censor URL passwords in the configuration workers report.

    Celery masks ``broker_url`` and keys named like secrets, but not a URL inside another
    value (e.g. a settings object's repr); Flower shows that report on its worker pages and
    in ``/api/workers``. Called from ``config/flowerconfig.py``; idempotent.
    """
    from flower.inspector import Inspector

    original = Inspector._on_update
    if getattr(original, "dialer_censored", False):
        return

    def _on_update(self: Any, workername: str, method: str, response: Any) -> Any:
        if method == "conf":
            response = censor(response)
        return original(self, workername, method, response)

    _on_update.dialer_censored = True  # type: ignore[attr-defined]
    Inspector._on_update = _on_update


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and loopback IPs; ``""`` (every interface) is not."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def parse_basic_auth(value: str) -> list[str]:
    """``user:password[,user:password…]`` as Flower's list; raise ``click.BadParameter``."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            # Never echo the value: it holds a password.
            raise click.BadParameter("expected user:password (several separated by commas)",
                                     param_hint="--basic-auth")
    return entries


def flower_argv(conf: Path | None, address: str, port: int, extra: tuple[str, ...]) -> list[str]:
    """The command that runs Flower (no secret in it: basic auth goes by the environment)."""
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "flower"]
    if conf is not None:
        argv.append(f"--conf={conf}")
    else:  # the config's safety settings, spelled out
        argv.append("--persistent=False")
    argv += [f"--address={address}", f"--port={port}", *extra]
    return argv


@click.command("flower", context_settings={"ignore_unknown_options": True})
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Listen address; anything but loopback requires basic auth.")
@click.option("--port", type=click.IntRange(1, 65535), default=5555, show_default=True)
@click.option("--basic-auth", envvar=BASIC_AUTH_ENV, default="", show_envvar=True,
              metavar="USER:PASSWORD", help="HTTP basic auth (several separated by commas).")
@click.option("--conf", type=click.Path(path_type=Path), envvar=CONF_ENV, default=None,
              help="Flower config file (default: config/flowerconfig.py).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def flower(ctx: click.Context, address: str, port: int, basic_auth: str, conf: Path | None,
           extra: tuple[str, ...]) -> None:
    """Run Flower: live workers and tasks, and Prometheus metrics at /metrics.

    Extra arguments go to Flower as they are (e.g. --url_prefix=flower).
    """
    from dialer.cli_helpers import fail, settings_of
    from dialer.errors import SettingsError

    settings = settings_of(ctx)
    if not settings.redis_url:
        fail(SettingsError("DIALER_REDIS_URL is empty; Flower watches the workers' Redis"),
              ctx.obj.get("debug", False))
    auth = parse_basic_auth(basic_auth)
    if not auth and not is_loopback(address):
        raise click.UsageError(
            f"Flower would listen on {address or 'every interface'!r} without a password: "
            f"set {BASIC_AUTH_ENV}=user:password (or --basic-auth), or use --address 127.0.0.1"
        )
    config = find_config(conf)
    env = os.environ.copy()
    env.pop("FLOWER_BASIC_AUTH", None)  # one source of truth: ours
    if auth:
        env[BASIC_AUTH_ENV] = ",".join(auth)
        if config is None:
            env["FLOWER_BASIC_AUTH"] = ",".join(auth)
    argv = flower_argv(config, address, port, extra)
    click.echo(f"Flower on http://{address or '0.0.0.0'}:{port} "
               f"(config: {config or 'none found, Flower defaults'})", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
