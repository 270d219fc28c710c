"""Simulator: the app served by uvicorn in a background thread (or in the foreground)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from exotel_sim import inspect
from exotel_sim.admin import list_callbacks, list_calls, list_requests
from exotel_sim.app import create_app
from exotel_sim.config import SimConfig
from exotel_sim.engine import Engine

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class Simulator:
    """``with Simulator(SimConfig(time_scale=0.01)) as sim: requests.post(sim.url + …)``."""

    def __init__(
        self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.engine = Engine(config or SimConfig())
        self.host = host
        self._port = port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # addresses
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def config(self) -> SimConfig:
        return self.engine.config

    # running
    def _prepare(self) -> tuple[socket.socket, uvicorn.Server]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.engine),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            loop="asyncio",
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._sock = sock
        return sock, uvicorn.Server(config)

    def start(self, timeout_s: float = 10.0) -> Simulator:
        """Serve in a background thread; returns once the server answers."""
        if self._thread is not None:
            return self
        self.engine.start()
        sock, server = self._prepare()
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="exotel-sim-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the simulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def _answers(self) -> bool:
        if self._server is None or not self._server.started:
            return False
        try:
            with _DIRECT.open(self.url + "/_sim/health", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def serve_forever(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until SIGINT/SIGTERM; ``ready(url)`` once bound."""
        self.engine.start()
        sock, server = self._prepare()
        self._server = server
        try:
            if ready is not None:
                ready(self.url)
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled
            pass
        finally:
            self._close()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server, the scheduler and the callback senders."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout_s)
        self._thread = None
        self._close()

    def _close(self) -> None:
        self._server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.engine.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # in-process control and inspection
    def configure(self, **changes: Any) -> SimConfig:
        """Change faults, odds, timings… at run time (pydantic ValidationError if bad)."""
        return self.engine.configure(**changes)

    def set_scenario(self, numbers: dict[str, Any]) -> dict[str, list[str]]:
        """``{"+919800000001": ["no-answer", "answered"]}`` (or ``{"numbers": {…}}``)."""
        return self.engine.set_scenario(numbers)

    def scenario(self) -> dict[str, list[str]]:
        return self.engine.decider.scenario()

    def requests(self) -> list[dict[str, Any]]:
        return list_requests(self.engine)

    def counted_requests(self, account_sid: str | None = None) -> list[dict[str, Any]]:
        """Every Voice API request (POST or GET) that counted against the account limit,
        in arrival order, with its ``arrival_time``; optionally of one account only."""
        counted = inspect.counted_requests(self.requests())
        return [r for r in counted if account_sid is None or r["account_sid"] == account_sid]

    def calls(self) -> list[dict[str, Any]]:
        return list_calls(self.engine)

    def call(self, sid: str) -> dict[str, Any] | None:
        return next((c for c in self.calls() if c["sid"] == sid), None)

    def callbacks(self) -> list[dict[str, Any]]:
        return list_callbacks(self.engine)

    def cancel(self, call_sid: str) -> bool:
        """End a call not connected yet with Status "canceled" (its callback is sent)."""
        return self.engine.cancel(call_sid)

    def reset(self) -> None:
        self.engine.reset()

    def wait_idle(self, timeout_s: float = 10.0, *, settled: bool = False) -> bool:
        """True once every call is terminal and every due callback was attempted."""
        return self.engine.wait_idle(timeout_s, settled=settled)
