"""A scripted Exotel on loopback: answers each request with the next :class:`Reply`.

No mocks: :class:`ScriptedExotel` is a ``ThreadingHTTPServer`` that answers each request
with the next scripted reply (status, body, headers, a delay, or a dropped connection) and
records method, path, headers and body. The ``server`` and ``client`` fixtures
(``conftest.py``) start one for each test.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from pydantic import SecretStr

from dialer.settings import AccountSettings
from tests.exotel.seed_bodies import V1_CONNECT_JSON

SID = "AC123"
KEY = "key_abc"
TOKEN = "tok_SECRET_9f8e7d"
BASIC = "Basic " + base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode()
READ_TIMEOUT_S = 0.4

CONNECT = {"From": "09876543210", "To": "09123456789", "CallerId": "08047471234"}
FLOW = {"From": "09876543210", "CallerId": "08047471234", "app_id": 215432}
V3 = {"from_contact_uri": "09876543210", "to_contact_uri": "09123456789",
      "virtual_number": "08047471234", "recording": {"record": True}}
XML = "application/xml"


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (past the client's read timeout)
    drop: bool = False  # close the connection after reading the request


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True)

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedExotel:
    """A loopback HTTP server answering with scripted replies; records every request."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default = Reply(200, V1_CONNECT_JSON)
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def __enter__(self) -> ScriptedExotel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._serve()

            def do_POST(self) -> None:  # noqa: N802
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items()),
                                        body, self.client_address[1]))
                reply = server.script.popleft() if server.script else server.default
                if reply.delay_s:
                    server.stopping.wait(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (read timeout)
                    self.close_connection = True

        return Handler


def make_account(base_url: str, **kw: Any) -> AccountSettings:
    return AccountSettings(name="test", sid=SID, api_key=KEY, api_token=SecretStr(TOKEN),
                           base_url=base_url, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
