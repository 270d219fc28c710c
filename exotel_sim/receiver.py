"""CallbackReceiver: a tiny StatusCallback endpoint for tests (ThreadingHTTPServer).

    with CallbackReceiver() as rx:
        ... StatusCallback=rx.url + "/cb" ...
        hits = rx.wait_for(1, timeout_s=5)   # [{"method", "path", "query", "content_type",
                                              #   "form" | "json", "received_at"}]
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_NAME = re.compile(rb'name="([^"]*)"')


def parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body."""
    match = _BOUNDARY.search(content_type)
    if not match:
        return {}
    form: dict[str, str] = {}
    for part in body.split(b"--" + match.group(1).encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        name = _NAME.search(head)
        if sep and name:
            form[name.group(1).decode()] = value.removesuffix(b"\r\n").decode("utf-8")
    return form


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """``{"json": …}`` or ``{"form": {…}}`` from a JSON, urlencoded or multipart body."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        return {"json": json.loads(body or b"null")}
    if kind == "multipart/form-data":
        return {"form": parse_multipart(content_type, body)}
    if kind == "application/x-www-form-urlencoded":
        return {"form": dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))}
    return {"raw": body.decode("utf-8", "replace")}


class CallbackReceiver:
    """Records every request; answers ``status`` (settable at run time), or the statuses
    given to ``script`` first, one per request; waits ``delay_s`` before each answer."""

    def __init__(self, host: str = "127.0.0.1", status: int = 200, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self._script: list[int] = []
        self._hits: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                hit: dict[str, Any] = {
                    "method": self.command,
                    "path": parts.path,
                    "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                    "content_type": self.headers.get("Content-Type", ""),
                    "received_at": time.time(),
                }
                hit.update(parse_body(hit["content_type"], body) if body else {})
                status = receiver._add(hit)
                if receiver.delay_s > 0:
                    time.sleep(receiver.delay_s)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 256
            daemon_threads = True

        self._server = Server((host, 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *statuses: int) -> None:
        """Answer the next requests with ``statuses`` in turn, then ``status`` again."""
        with self._cond:
            self._script = list(statuses)

    def _add(self, hit: dict[str, Any]) -> int:
        with self._cond:
            self._hits.append(hit)
            self._cond.notify_all()
            return self._script.pop(0) if self._script else self.status

    def received(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._hits)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """At least ``count`` hits, or whatever arrived by the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._hits) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self._hits)

    def clear(self) -> None:
        with self._cond:
            self._hits.clear()

    def start(self) -> CallbackReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="callback-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
