"""One chaos world: Redis (AOF, restartable), the simulator, web, workers and beat."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from dialer.devstack import DevStack, stack_env
from dialer.embedded import EmbeddedRedis, free_port
from dialer.embedded_ha import EmbeddedCluster
from dialer.keys import Keys
from dialer.processes import Child
from dialer.producer import Producer
from dialer.redis_conn import client_for
from dialer.settings import Settings, settings_from_env
from dialer.store import Store
from exotel_sim import SimConfig, Simulator

LIMIT = 100  # calls per window: Exotel's limit and the dialer's (margin 0), scaled
WINDOW_S = 5.0
MAX_RETRIES = 3

# Leg 1 fails often enough that retries happen in every scenario; leg 2 mostly answers.
SIM_DEFAULTS: dict[str, Any] = {
    "time_scale": 0.01,
    "limit_calls": LIMIT,
    "limit_window_s": WINDOW_S,
    "leg1_outcomes": {"answered": 0.8, "no-answer": 0.1, "failed": 0.05, "busy": 0.05},
    "leg2_outcomes": {"answered": 0.95, "no-answer": 0.05},
}
DIALER_DEFAULTS: dict[str, Any] = {
    "rate_limit_calls": LIMIT,
    "rate_limit_window_s": WINDOW_S,
    "rate_limit_margin_calls": 0,
    "max_retries": MAX_RETRIES,
    "dialing_timeout_s": 5.0,
    "pending_redeliver_s": 10.0,
    "sweep_interval_s": 1.0,
    # unknown attempts are looked up in the bulk call details this long, then reported
    "unknown_deadline_s": 60.0,
}


@dataclass
class World:
    redis_server: EmbeddedRedis
    sim: Simulator
    fleet: DevStack
    settings: Settings
    web_port: int
    workers: list[Child] = field(default_factory=list)
    _names: int = 0
    cluster: EmbeddedCluster | None = None  # ha: primary + replica + sentinels
    schedulers: list[Child] = field(default_factory=list)

    @property
    def client(self) -> redis.Redis:
        if self.cluster is not None:
            return client_for(self.settings, socket_timeout_s=5)
        return redis.Redis.from_url(self.redis_server.url, decode_responses=True,
                                    socket_timeout=5, socket_connect_timeout=2)

    @property
    def store(self) -> Store:
        return Store(self.client, Keys(self.settings.key_prefix))

    def producer(self) -> Producer:
        return Producer(self.client, self.settings)

    def add_worker(self) -> Child:
        self._names += 1
        child = self.fleet.worker(f"w{self._names}", concurrency=8)
        self.workers.append(child)
        return child

    def restart_redis(self, down_s: float, crash: bool = False) -> None:
        """Stop Redis — SIGTERM (it flushes its AOF) or, with ``crash``, SIGKILL — wait,
        and start it again on the same port and data directory."""
        server = self.redis_server
        if crash and server.proc is not None:
            server.proc.kill()  # the process we started, by its handle
            server.proc.wait(10)
        server.stop()
        time.sleep(down_s)
        server.start()


@contextmanager
def world(workers: int = 2, sim: dict[str, Any] | None = None, seed: int = 1,
          ha: bool = False, **settings: Any) -> Iterator[World]:
    """Start everything; stop everything (by its handle) on the way out.

    ``ha``: Redis is a primary, a replica and three sentinels (the dialer gets the
    ``sentinel://`` URL) and two schedulers run (one leads)."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        cluster = None
        if ha:
            cluster = EmbeddedCluster(tmp / "ha")
            stack.callback(cluster.stop)
            cluster.start()
            server = cluster.nodes[0]
        else:
            server = EmbeddedRedis(tmp / "redis", port=free_port())
            server.start()
            stack.callback(server.stop)
        simulator = Simulator(SimConfig(**{**SIM_DEFAULTS, "seed": seed, **(sim or {})}))
        simulator.start()
        stack.callback(simulator.stop)
        port = free_port()
        env = stack_env(cluster.url if cluster else server.url, simulator.url,
                        f"http://127.0.0.1:{port}", **{**DIALER_DEFAULTS, **settings})
        fleet = stack.enter_context(DevStack(env, tmp))
        w = World(server, simulator, fleet, settings_from_env(env), port, cluster=cluster)
        fleet.web(port)
        for _ in range(workers):
            w.add_worker()
        w.schedulers.append(fleet.beat())
        if ha:
            w.schedulers.append(fleet.beat())
        yield w
