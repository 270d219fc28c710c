"""One HTTP/1.1 request written and its answer read on a connected socket (RFC 9112).

:mod:`http.client` spends most of a call's POST time in two places a dialer's exchange
does not need: its request is built header by header (``putrequest`` / ``putheader`` /
``endheaders``, each checked and buffered), and its answer's headers are parsed by
:mod:`email.parser`. Here the request is one ``sendall`` of a head built in one string
and the body, and the answer is read into one buffer and parsed by splitting lines.

What is sent is what ``http.client`` sends: the request line, ``Host`` first (the
connection's host, IDNA-encoded, an IPv6 address in brackets without its zone, the port
unless it is the scheme's default), ``Accept-Encoding: identity`` when the caller gave
no ``Accept-Encoding``, a ``Content-Length`` the caller did
not give, then the caller's headers in order. A method, path or header value that could
split the request (a control character, a CR or LF) or a header name that is not an
RFC 9110 token is refused with ``ValueError`` before anything is written.

An answer is read strictly: a status line ``HTTP/1.x NNN reason``; interim 1xx answers
skipped; at most :data:`MAX_HEAD` bytes of head and :data:`MAX_HEADERS` header lines, each
``name: value`` (an obsolete folded line joins the value before it with one space); the
body framed by ``Transfer-Encoding: chunked``, else by ``Content-Length`` (repeated
lengths must agree), else by the connection's close — none for ``HEAD``, 204 and 304;
at most :data:`MAX_BODY` bytes. Anything else is :class:`Malformed`. The connection is
to be closed after the answer (``Answer.will_close``) when the server says so, when the
body ran to the close, when both framings came (a smuggling attempt), for HTTP/1.0
without keep-alive, and when bytes follow the answer (so that the next request never
reads them as its answer).
"""

from __future__ import annotations

import functools
import re
import socket
from typing import Any, NamedTuple

MAX_HEAD = 65536  # bytes of status line and headers (http.client: 65536 per line)
MAX_HEADERS = 100  # header lines (http.client's limit)
MAX_BODY = 16 * 1024 * 1024  # bytes of body: an Exotel answer is a few kB
_READ = 65536

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch  # a header name (RFC 9110)
_BAD_METHOD = re.compile(r"[\x00-\x20\x7f]").search
_BAD_PATH = re.compile(r"[\x00-\x20\x7f]").search  # http.client's: no space, no controls
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}").fullmatch
_BODILESS_STATUS = (204, 304)
MAX_INTERIM = 8  # 1xx answers skipped before the final one


class Malformed(Exception):
    """The server answered something that is not an HTTP/1.1 answer (or is too large)."""


class Closed(Exception):
    """The connection closed before a whole answer came (``partial``: bytes of it came)."""

    def __init__(self, partial: bool) -> None:
        super().__init__("the connection closed in the answer's body" if partial
                         else "the connection closed without an answer")
        self.partial = partial


class Answer(NamedTuple):
    status: int
    reason: str
    headers: list[tuple[str, str]]  # in order, as sent (names as spelt)
    body: bytes
    will_close: bool


@functools.lru_cache(maxsize=64)
def host_header(host: str, port: int | None, default_port: int) -> str:
    """``Host`` as ``http.client`` sends it for a connection to ``host``:``port``."""
    try:
        enc = host.encode("ascii")
    except UnicodeEncodeError:
        enc = host.encode("idna")
    text = enc.decode("ascii")
    if ":" in host:
        text = f"[{text.partition('%')[0]}]"
    return text if port in (None, default_port) else f"{text}:{port}"


def request_bytes(method: str, path: str, host: str, headers: Any,
                  body: bytes | str | None) -> bytes:
    """The whole request: head and body (``headers``: name → value, in order)."""
    if _BAD_METHOD(method):
        raise ValueError(f"method can't contain control characters: {method!r}")
    if _BAD_PATH(path):
        raise ValueError(f"URL can't contain control characters: {path!r}")
    names = {str(n).lower() for n in headers}
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    if isinstance(body, str):
        body = body.encode("iso-8859-1")  # as http.client: a str body is Latin-1
    if "content-length" not in names and "transfer-encoding" not in names and (
            body or method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(body or b'')}")
    for name, value in headers.items():
        name, value = str(name), str(value)
        if not _TOKEN(name):
            raise ValueError(f"Invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"Invalid header value for {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("iso-8859-1") + (body or b"")


class _Reader:
    """A socket's bytes, read as they are needed into one buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.sock.recv(_READ)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def head(self) -> bytes:
        """Up to and without the blank line that ends a head."""
        start = self.pos
        while True:
            end = self.buf.find(b"\r\n\r\n", start)
            if end - self.pos > MAX_HEAD:
                raise Malformed(f"the answer's head is over {MAX_HEAD} bytes")
            if end >= 0:
                head = bytes(self.buf[self.pos:end])
                self.pos = end + 4
                return head
            if len(self.buf) - self.pos > MAX_HEAD:
                raise Malformed(f"the answer's head is over {MAX_HEAD} bytes")
            start = max(self.pos, len(self.buf) - 3)
            if not self.fill():
                raise Closed(partial=len(self.buf) > self.pos)

    def line(self) -> bytes:
        start = self.pos
        while True:
            end = self.buf.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.buf[self.pos:end])
                self.pos = end + 2
                return line
            if len(self.buf) - self.pos > MAX_HEAD:
                raise Malformed("a chunk line is too long")
            start = max(self.pos, len(self.buf) - 1)
            if not self.fill():
                raise Closed(partial=True)

    def exactly(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n:
            if not self.fill():
                raise Closed(partial=True)
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def to_close(self) -> bytes:
        while self.fill():
            if len(self.buf) - self.pos > MAX_BODY:
                raise Malformed(f"the answer's body is over {MAX_BODY} bytes")
        data = bytes(self.buf[self.pos:])
        self.pos = len(self.buf)
        return data

    def leftover(self) -> bool:
        return len(self.buf) > self.pos


def _status(line: str) -> tuple[str, int, str]:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(version) != 8 or not version[7].isdigit():
        raise Malformed(f"not an HTTP/1.x status line: {line[:80]!r}")
    if len(code) != 3 or not code.isascii() or not code.isdigit() or code[0] == "0":
        raise Malformed(f"bad status code in {line[:80]!r}")
    return version, int(code), reason.strip()


def _fields(lines: list[str]) -> list[tuple[str, str]]:
    if len(lines) > MAX_HEADERS:
        raise Malformed(f"more than {MAX_HEADERS} header lines")
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):  # obsolete line folding: one space
            if not fields:
                raise Malformed("a folded line before any header")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}" if value else line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN(name):
            raise Malformed(f"not a header line: {line[:80]!r}")
        fields.append((name, value.strip()))
    return fields


def _values(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [v.strip() for n, value in fields if n.lower() == name for v in value.split(",")]


def _chunked(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = reader.line().split(b";", 1)[0].strip(b" \t")
        if not _HEX(size_text):
            raise Malformed(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # the trailer section, ignored
                if not reader.line():
                    return b"".join(parts)
            raise Malformed("too many trailer lines")
        total += size
        if total > MAX_BODY:
            raise Malformed(f"the answer's body is over {MAX_BODY} bytes")
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise Malformed("a chunk does not end with CRLF")


def read_answer(sock: socket.socket, method: str) -> Answer:
    """The answer to the request just written on ``sock`` (module docstring).
    Raises :class:`Malformed`, :class:`Closed` or the socket's own errors."""
    reader = _Reader(sock)
    for _ in range(MAX_INTERIM + 1):
        head = reader.head().decode("iso-8859-1")
        status_line, *lines = head.split("\r\n")
        version, status, reason = _status(status_line)
        fields = _fields(lines)
        if status == 101:
            raise Malformed("101 Switching Protocols to a request that asked for none")
        if status >= 200:
            break  # else an interim answer (100 Continue, 103 Early Hints): the next
    else:
        raise Malformed(f"more than {MAX_INTERIM} interim answers")
    tokens = {t.lower() for t in _values(fields, "connection")}
    will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
    codings = [c.lower() for c in _values(fields, "transfer-encoding") if c]
    lengths = set(_values(fields, "content-length"))
    if method == "HEAD" or status in _BODILESS_STATUS:
        body = b""
    elif codings:
        if codings[-1] == "chunked":
            body = _chunked(reader)
        else:  # a coding with no chunked last: the body runs to the close
            body, will_close = reader.to_close(), True
        will_close = will_close or bool(lengths)  # both framings: never reuse it
    elif lengths:
        length = lengths.pop() if len(lengths) == 1 else ""
        if not (length.isascii() and length.isdigit()):  # none, or lengths that disagree
            raise Malformed(f"bad Content-Length: {', '.join(sorted(lengths))[:80]!r}")
        if int(length) > MAX_BODY:
            raise Malformed(f"the answer's body is over {MAX_BODY} bytes")
        body = reader.exactly(int(length))
    else:
        body, will_close = reader.to_close(), True
    return Answer(status, reason, fields, body, will_close or reader.leftover())
