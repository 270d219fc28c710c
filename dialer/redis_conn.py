"""Every Redis client of the dialer, built from the settings in one place.

``DIALER_REDIS_URL`` takes the forms redis-py and kombu understand:

* ``redis://[:password@]host:port/db``, ``rediss://…`` (TLS), ``unix:///path?db=0`` — one
  server, as before: :func:`client_for` is ``redis.Redis.from_url``.
* ``sentinel://[:password@]host1:26379;sentinel://host2:26379;…/db`` — Redis Sentinel,
  kombu's form: every ``;``-separated part names one sentinel; the database comes from
  the last part's path. The master is ``DIALER_REDIS_SENTINEL_MASTER``; the password in
  the URL is the master's (``requirepass``), ``DIALER_REDIS_SENTINEL_PASSWORD`` the
  sentinels' own; ``DIALER_REDIS_TLS`` speaks TLS to both.

A sentinel client re-resolves the master on every new connection (redis-py's
``SentinelConnectionPool``); a connection error or ``READONLY`` from a demoted primary
drops the connection, and the :func:`failover_retry` policy retries with backoff for
about ``DIALER_REDIS_FAILOVER_RETRY_S`` — so a failover costs a pause, not a restart.

Passwords never leave this module in a message: :func:`redact` masks every one.
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from dialer.errors import RedisUnavailableError, SettingsError

if TYPE_CHECKING:
    from dialer.settings import Settings

SENTINEL_SCHEME = "sentinel://"
PLAIN_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_SENTINEL_PORT = 26379
# "scheme://user:password@" → the password, in any text (a URL inside a message or repr)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\";]*:)[^\s/'\";]*@")


def is_sentinel(url: str) -> bool:
    return url.strip().startswith(SENTINEL_SCHEME)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed ``sentinel://`` URL. ``repr`` never shows the password."""

    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    password: str | None = None  # the master's (requirepass)
    username: str | None = None

    def __repr__(self) -> str:
        hosts = ", ".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"SentinelUrl([{hosts}], db={self.db}, password={'***' if self.password else None})"


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse kombu's ``sentinel://…;sentinel://…/db``; ``ValueError`` names the bad part."""
    parts = [p.strip() for p in url.strip().split(";") if p.strip()]
    if not parts:
        raise ValueError("a sentinel URL names at least one sentinel")
    hosts: list[tuple[str, int]] = []
    db = 0
    password: str | None = None
    username: str | None = None
    for part in parts:
        if not part.startswith(SENTINEL_SCHEME):
            raise ValueError(f"every part must start with sentinel://, got {redact(part)!r}")
        split = urlsplit(part)
        try:
            port = split.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            raise ValueError(f"bad port in {redact(part)!r}") from None
        if not split.hostname:
            raise ValueError(f"no host in {redact(part)!r}")
        hosts.append((split.hostname, port))
        if split.password and password is None:
            password = unquote(split.password)
            username = unquote(split.username) if split.username else None
        path = split.path.strip("/")
        if path:
            if not path.isdigit():
                raise ValueError(f"the database must be a number, got {path!r}")
            db = int(path)
    return SentinelUrl(tuple(hosts), db, password, username)


def validate_url(url: str) -> str:
    """The settings' check of ``DIALER_REDIS_URL`` (empty = the bundled server)."""
    url = url.strip()
    if not url or url.startswith(PLAIN_SCHEMES):
        return url
    if is_sentinel(url):
        parse_sentinel_url(url)
        return url
    raise ValueError("must start with redis://, rediss://, unix:// or sentinel://, or be empty")


def failover_retry(retry_s: float) -> Retry:
    """Retry connection errors and timeouts with backoff (0.1 s doubling, ≤ 1 s) for about
    ``retry_s`` seconds in all: long enough for Sentinel to promote a replica."""
    retries = max(1, 4 + math.ceil(retry_s))
    return Retry(ExponentialWithJitterBackoff(base=0.1, cap=1.0), retries,
                 supported_errors=(redis.ConnectionError, redis.TimeoutError, OSError))


def _setting(settings: Any, name: str, default: Any) -> Any:
    value = getattr(settings, name, default)
    return default if value is None else value


def _sentinel_password(settings: Any) -> str | None:
    secret = getattr(settings, "redis_sentinel_password", None)
    value = secret.get_secret_value() if secret is not None else ""
    return value or None


def sentinel_for(settings: Settings, url: str | None = None, **connection: Any) -> Sentinel:
    """A :class:`redis.sentinel.Sentinel` for ``url`` (default: the settings' URL)."""
    parsed = parse_sentinel_url(url or settings.redis_url)
    tls = bool(_setting(settings, "redis_tls", False))
    timeout = float(_setting(settings, "redis_connect_timeout_s", 3.0))
    # no retry per sentinel: a dead one is skipped for the next at once; the master
    # client's own retry asks them all again
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": timeout,
                                       "socket_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
    if password := _sentinel_password(settings):
        sentinel_kwargs["password"] = password
    if tls:
        sentinel_kwargs["ssl"] = True
        connection.setdefault("ssl", True)
    return Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs,
                    db=parsed.db, password=parsed.password, username=parsed.username,
                    **connection)


def client_for(settings: Settings, *, url: str | None = None, decode_responses: bool = True,
               socket_timeout_s: float | None = None, **extra: Any) -> redis.Redis:
    """The dialer's Redis client for ``url`` (default: ``settings.redis_url``).

    A plain URL gives ``redis.Redis.from_url`` exactly as before; a sentinel URL gives
    the master of ``DIALER_REDIS_SENTINEL_MASTER`` with the failover retry.
    """
    url = (url if url is not None else settings.redis_url).strip()
    if not url:
        raise SettingsError("DIALER_REDIS_URL is empty: start `dialer redis` and set it")
    connect_s = float(_setting(settings, "redis_connect_timeout_s", 3.0))
    kwargs: dict[str, Any] = {"decode_responses": decode_responses,
                              "socket_connect_timeout": connect_s, **extra}
    if socket_timeout_s is not None:
        kwargs["socket_timeout"] = socket_timeout_s
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    kwargs.setdefault("socket_timeout", max(5.0, connect_s))
    kwargs.setdefault("retry", failover_retry(float(_setting(settings,
                                                             "redis_failover_retry_s", 15.0))))
    kwargs.setdefault("retry_on_error", [redis.ConnectionError, redis.TimeoutError])
    master = str(_setting(settings, "redis_sentinel_master", "mymaster"))
    return sentinel_for(settings, url).master_for(master, **kwargs)


def check(settings: Settings, url: str | None = None, timeout_s: float | None = None) -> None:
    """Raise :class:`RedisUnavailableError` unless the Redis (or the sentinels' master)
    answers PING within ``timeout_s`` (default: ``DIALER_REDIS_CONNECT_TIMEOUT_S``)."""
    url = (url if url is not None else settings.redis_url).strip()
    timeout = timeout_s if timeout_s is not None else settings.redis_connect_timeout_s
    if not is_sentinel(url):
        from dialer.embedded import check_redis

        check_redis(url, timeout)
        return
    master = settings.redis_sentinel_master
    client = sentinel_for(settings, url, socket_connect_timeout=timeout,
                          socket_timeout=timeout).master_for(master, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise RedisUnavailableError(
            f"Redis master {master!r} of the sentinels at {redact(url)} did not answer "
            f"within {timeout:g}s ({type(exc).__name__}: {redact(str(exc))}); check "
            "DIALER_REDIS_URL, DIALER_REDIS_SENTINEL_MASTER and the sentinels"
        ) from None
    finally:
        client.close()


# --- the Celery broker (kombu) ---------------------------------------------------------

def broker_url(settings: Settings) -> str:
    """The broker URL for Celery: the same string; kombu reads ``sentinel://`` itself."""
    return settings.redis_url.strip()


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """kombu's sentinel options (empty for a plain URL): the master name, the sentinels'
    password and TLS (``sentinel_kwargs``)."""
    if not is_sentinel(settings.redis_url):
        return {}
    sentinel_kwargs: dict[str, Any] = {}
    if password := _sentinel_password(settings):
        sentinel_kwargs["password"] = password
    if settings.redis_tls:
        sentinel_kwargs["ssl"] = True
    options: dict[str, Any] = {"master_name": settings.redis_sentinel_master}
    if sentinel_kwargs:
        options["sentinel_kwargs"] = sentinel_kwargs
    return options


def broker_conf(settings: Settings) -> dict[str, Any]:
    """Celery configuration of the broker connection beyond its URL."""
    conf: dict[str, Any] = {}
    options = broker_transport_options(settings)
    if options:
        conf["broker_transport_options"] = options
        if settings.redis_tls:
            conf["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return conf
