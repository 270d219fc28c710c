"""One HTTP/1.1 request written and its answer read on a connected socket (RFC 9112).

:mod:`http.client` spends most of a call's POST time in two places a dialer's exchange
does not need: its request is built header by header (``putrequest`` / ``putheader`` /
``endheaders``, each checked and buffered), and its answer's headers are parsed by
:mod:`email.parser`. Here the request is one ``sendall`` of a head built in one string
and the body, and the answer is read into one buffer and parsed by splitting lines.

What is sent is what ``http.client`` sends: the request line (an empty path is ``/``),
``Host`` first unless the caller gave one (the connection's host, IDNA-encoded, an IPv6
address in brackets without its zone, the port unless it is the scheme's default),
``Accept-Encoding: identity`` when the caller gave no ``Accept-Encoding``, a
``Content-Length`` when the caller gave none (for any body, and 0 for a POST, PUT or
PATCH without one), then the caller's headers in order (str or bytes, as urllib3 takes
them); a str body goes as UTF-8, as urllib3 sends it. Refused with ``ValueError`` before
anything is written: a method or path that is not ASCII or holds a space or a control
character, a header name that is not an RFC 9110 token, a header value with a CR, LF or
NUL, and a caller's ``Transfer-Encoding`` (the body is always sent whole).

An answer is read strictly: a status line ``HTTP/1.x NNN reason``; interim 1xx answers
skipped (at most :data:`MAX_INTERIM`); at most :data:`MAX_HEAD` bytes of head and
:data:`MAX_HEADERS` header lines, each ``name: value`` with no bare CR, LF or NUL (an
obsolete folded line joins the value before it with one space); the body framed by
``Transfer-Encoding: chunked`` (the only transfer coding taken; chunk lines at most
:data:`MAX_CHUNK_LINE` bytes, at most :data:`MAX_CHUNKS` chunks), else by
``Content-Length`` (repeated lengths must agree), else by the connection's close — none
for ``HEAD``, 204 and 304; at most :data:`MAX_BODY` bytes of body and
:data:`MAX_ANSWER` bytes read in all. Anything else is :class:`Malformed`. The
connection is to be closed after the answer (``Answer.will_close``) when the server says
so, when the body ran to the close, when both framings came (a smuggling attempt), for
HTTP/1.0 without keep-alive or with a transfer coding, and when bytes follow the answer
(so that the next request never reads them as its answer).

The socket's timeout bounds each wait for bytes, as for ``http.client`` and urllib3, not
the whole answer.
"""

from __future__ import annotations

import functools
import re
import socket
from typing import Any, NamedTuple

MAX_HEAD = 65536  # bytes of status line and headers (http.client: 65536 per line)
MAX_HEADERS = 100  # header lines (http.client's limit)
MAX_BODY = 16 * 1024 * 1024  # bytes of body: an Exotel answer is a few kB
MAX_INTERIM = 8  # 1xx answers skipped before the final one
MAX_CHUNK_LINE = 4096  # a chunk's size line with its extensions, or a trailer line
MAX_CHUNKS = 65536  # chunks in one body
MAX_ANSWER = MAX_BODY + (MAX_INTERIM + 2) * MAX_HEAD + MAX_CHUNKS * 16  # bytes read
_READ = 65536
_TRIM = 1 << 20  # consumed bytes dropped from the buffer once past this

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch  # a header name (RFC 9110)
_BAD_TARGET = re.compile(r"[^\x21-\x7e]").search  # a method or path: printable ASCII only
_BAD_VALUE = re.compile(r"[\r\n\x00]").search
_BARE = re.compile(r"\r(?!\n)|(?<!\r)\n|\x00").search  # in a head: not a line's CRLF
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}").fullmatch
_DIGITS = re.compile(r"[0-9]{1,18}").fullmatch
_OWS = " \t"
_BODILESS_STATUS = (204, 304)
_EXPECTING_BODY = ("PATCH", "POST", "PUT")


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


def _text(item: Any) -> str:
    return item.decode("iso-8859-1") if isinstance(item, bytes | bytearray) else str(item)


def request_bytes(method: str, path: str, host: str, headers: Any,
                  body: bytes | str | None) -> bytes:
    """The whole request: head and body (``headers``: name → value, in order)."""
    if not method or _BAD_TARGET(method):
        raise ValueError(f"method must be printable ASCII without spaces: {method!r}")
    path = path or "/"
    if _BAD_TARGET(path):
        raise ValueError(f"URL must be printable ASCII without spaces: {path!r}")
    fields = [(_text(n), _text(v)) for n, v in headers.items()]
    names = {n.lower() for n, _ in fields}
    if "transfer-encoding" in names:
        raise ValueError("a Transfer-Encoding is not sent: the body goes whole")
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    if isinstance(body, str):
        body = body.encode("utf-8")  # as urllib3 sends a str body
    if "content-length" not in names and (body is not None
                                          or method.upper() in _EXPECTING_BODY):
        lines.append(f"Content-Length: {len(body or b'')}")
    for name, value in fields:
        if not _TOKEN(name):
            raise ValueError(f"Invalid header name {name!r}")
        if _BAD_VALUE(value):
            raise ValueError(f"Invalid header value for {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("iso-8859-1") + (body or b"")


class _Reader:
    """A socket's bytes, read as they are needed into one buffer (``pos``: the first byte
    not consumed); at most :data:`MAX_ANSWER` bytes in all."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.read = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.sock.recv(_READ)
        if not chunk:
            self.eof = True
            return False
        self.read += len(chunk)
        if self.read > MAX_ANSWER:
            raise Malformed(f"the answer is over {MAX_ANSWER} bytes")
        if self.pos > _TRIM:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk
        return True

    def until(self, mark: bytes, most: int, what: str) -> bytes:
        """The bytes up to ``mark`` (consumed with it), at most ``most`` of them."""
        scanned = 0  # bytes after pos searched already
        while True:
            end = self.buf.find(mark, self.pos + scanned)
            if end - self.pos > most or (end < 0 and len(self.buf) - self.pos > most):
                raise Malformed(f"{what} is over {most} bytes")
            if end >= 0:
                data = bytes(self.buf[self.pos:end])
                self.pos = end + len(mark)
                return data
            scanned = max(0, len(self.buf) - self.pos - len(mark) + 1)
            if not self.fill():
                raise Closed(partial=self.read > 0)

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
    if len(code) != 3 or not _DIGITS(code) or code[0] == "0":
        raise Malformed(f"bad status code in {line[:80]!r}")
    return version, int(code), reason.strip(_OWS)


def _fields(lines: list[str]) -> list[tuple[str, str]]:
    if len(lines) > MAX_HEADERS:
        raise Malformed(f"more than {MAX_HEADERS} header lines")
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):  # obsolete line folding: one space
            if not fields:
                raise Malformed("a folded line before any header")
            name, value = fields[-1]
            more = line.strip(_OWS)
            fields[-1] = (name, f"{value} {more}" if value else more)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN(name):
            raise Malformed(f"not a header line: {line[:80]!r}")
        fields.append((name, value.strip(_OWS)))
    return fields


def _values(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [v.strip(_OWS) for n, value in fields if n.lower() == name
            for v in value.split(",")]


def _chunked(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    for _ in range(MAX_CHUNKS):
        line = reader.until(b"\r\n", MAX_CHUNK_LINE, "a chunk's size line")
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX(size_text):
            raise Malformed(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # the trailer section, ignored
                if not reader.until(b"\r\n", MAX_CHUNK_LINE, "a trailer line"):
                    return b"".join(parts)
            raise Malformed("too many trailer lines")
        total += size
        if total > MAX_BODY:
            raise Malformed(f"the answer's body is over {MAX_BODY} bytes")
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise Malformed("a chunk does not end with CRLF")
    raise Malformed(f"more than {MAX_CHUNKS} chunks")


def read_answer(sock: socket.socket, method: str) -> Answer:
    """The answer to the request just written on ``sock`` (module docstring).
    Raises :class:`Malformed`, :class:`Closed` or the socket's own errors."""
    reader = _Reader(sock)
    for _ in range(MAX_INTERIM + 1):
        head = reader.until(b"\r\n\r\n", MAX_HEAD, "the answer's head").decode("iso-8859-1")
        if bare := _BARE(head):
            raise Malformed(f"a bare CR, LF or NUL in the answer's head at {bare.start()}")
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
    codings = [c.lower() for c in _values(fields, "transfer-encoding")]
    lengths = set(_values(fields, "content-length"))
    if method.upper() == "HEAD" or status in _BODILESS_STATUS:
        body = b""
    elif codings:
        if codings != ["chunked"]:
            raise Malformed(f"a transfer coding other than chunked: {', '.join(codings)[:80]!r}")
        body = _chunked(reader)
        will_close = will_close or bool(lengths) or version == "HTTP/1.0"  # never reused
    elif lengths:
        shown = ", ".join(sorted(lengths))[:80]
        length = lengths.pop() if len(lengths) == 1 else ""
        if not _DIGITS(length):  # too long, not digits, or lengths that disagree
            raise Malformed(f"bad Content-Length: {shown!r}")
        if int(length) > MAX_BODY:
            raise Malformed(f"the answer's body is over {MAX_BODY} bytes")
        body = reader.exactly(int(length))
    else:
        body, will_close = reader.to_close(), True
    return Answer(status, reason, fields, body, will_close or reader.leftover())
