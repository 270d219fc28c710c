"""One HTTP/1.1 exchange on a connection of a host's urllib3 pool, without urllib3's
per-request layers.

``HTTPConnectionPool.urlopen`` costs about as much of a worker's CPU as the rest of a
call's POST put together (its timeout and retry objects, its request wrapper, a second
response object around ``http.client``'s, a header dict built twice). Here a request
takes a connection from the pool (``_get_conn``: a kept-alive connection the server has
closed is found there and replaced, as for ``urlopen``), connects it in a step of its own
when it has no socket (urllib3's ``connect``: its TLS context, certificate checks and
connect timeout), writes the request and reads the whole answer on the connection's
socket (:mod:`dialer.exotel.http11`: the bytes ``http.client`` would send, one
``sendall``; the answer parsed without :mod:`email.parser`), closes the connection when
the answer says so, then gives it back (or a ``None`` in its place after a failure, so
that the pool makes a fresh one). A body with a ``Content-Encoding`` is decoded by
urllib3's own decoders.

Nothing is ever retried, and each failure is raised as the requests exception
``HTTPAdapter.send`` raises for it with retries off, so that what was sent and what was
not is judged as before (:func:`dialer.exotel.classify.never_sent`):

* the connection could not be made (refused, DNS, unreachable): ``ConnectionError``
  carrying urllib3's ``NewConnectionError``; its connect timed out: ``ConnectTimeout`` —
  both before anything was written;
* TLS failed: ``SSLError``; the handshake timed out: ``ReadTimeout``;
* anything after the connection was made (a reset, a closed connection, a malformed or
  oversized answer, a cut body): ``ConnectionError``; no answer in the read timeout:
  ``ReadTimeout``; a body its Content-Encoding does not decode: ``ContentDecodingError``.

The read timeout also bounds the request's sending (urllib3 uses the connect timeout
there): a call's form is a few hundred bytes that the kernel takes at once, and a send
that times out is judged the same either way (it may have been sent).
"""

from __future__ import annotations

import errno
import io
import ssl
from typing import Any, NamedTuple

import urllib3
from requests.exceptions import (
    ConnectionError,
    ConnectTimeout,
    ContentDecodingError,
    ReadTimeout,
    SSLError,
)
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from dialer.exotel import http11

_SWALLOWED_ON_SEND = (errno.EPIPE, errno.ECONNRESET, errno.EPROTOTYPE)  # as urllib3: the
# server may have answered and closed; the answer is read next


class Answer(NamedTuple):
    """What came back: status, reason, headers (repeated names joined), whole body."""

    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes


def exchange(pool: Any, method: str, path: str, body: bytes | str | None,
             headers: Any, connect_s: float, read_s: float) -> Answer:
    """Send one request on ``pool`` (a ``urllib3.HTTPConnectionPool``) and read its answer;
    requests exceptions for failures (module docstring)."""
    conn = pool._get_conn()
    try:
        answer = _on(conn, method, path, body, headers, connect_s, read_s)
    except BaseException:
        conn.close()
        pool._put_conn(None)
        raise
    pool._put_conn(conn)
    return answer


def _on(conn: Any, method: str, path: str, body: bytes | str | None, headers: Any,
        connect_s: float, read_s: float) -> Answer:
    wire = http11.request_bytes(method, path, http11.host_header(conn.host, conn.port,
                                                                 conn.default_port),
                                headers, body)  # bad input raises here, nothing sent
    if conn.sock is None:
        _connect(conn, connect_s)
    sock = conn.sock
    try:
        if sock.gettimeout() != read_s:  # a kept-alive connection has it already
            sock.settimeout(read_s)
        try:
            sock.sendall(wire)
        except OSError as exc:
            if exc.errno not in _SWALLOWED_ON_SEND:
                raise
        got = http11.read_answer(sock, method)
    except TimeoutError as exc:  # socket.timeout: no answer in the read timeout
        raise ReadTimeout(exc) from None
    except ssl.SSLError as exc:
        raise SSLError(exc) from None
    except (http11.Malformed, http11.Closed, OSError) as exc:
        raise _aborted(exc) from None
    if got.will_close:
        conn.close()  # the pool makes a new one for the next request
    headers_in = _headers(got.headers)
    data = got.body
    encoding = headers_in.get("Content-Encoding")
    if encoding and encoding.strip().lower() != "identity":
        data = _decoded(data, encoding)
    return Answer(got.status, got.reason, headers_in, data)


def _aborted(exc: BaseException) -> ConnectionError:
    """A failure once the connection was made, as requests raises it (maybe sent)."""
    return ConnectionError(ProtocolError("Connection aborted.", exc))


def _connect(conn: Any, connect_s: float) -> None:
    """urllib3's connect (TCP, then TLS for https) as a step of its own: a failure here
    means nothing was sent."""
    conn.timeout = connect_s
    try:
        conn.connect()
    except NewConnectionError as exc:  # refused, DNS, unreachable (before ConnectTimeout:
        raise ConnectionError(exc) from None  # it is one too)
    except ConnectTimeoutError as exc:
        raise ConnectTimeout(exc) from None
    except TimeoutError as exc:  # the TLS handshake timed out, the TCP connection made
        raise ReadTimeout(exc) from None
    except (ssl.SSLError, ssl.CertificateError, HostnameMismatch,
            urllib3.exceptions.SSLError) as exc:
        raise SSLError(exc) from None
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise _aborted(exc) from None


def _headers(fields: list[tuple[str, str]]) -> CaseInsensitiveDict[str]:
    """The answer's headers, a name sent more than once with its values joined by ", "
    (as urllib3's ``HTTPHeaderDict`` gives them to requests)."""
    joined: dict[str, tuple[str, str]] = {}  # lower-case name: (first spelling, values)
    for name, value in fields:
        key = name.lower()
        seen = joined.get(key)
        joined[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
    return CaseInsensitiveDict(dict(joined.values()))


def _decoded(data: bytes, encoding: str) -> bytes:
    """A body with a Content-Encoding, decoded by urllib3 (gzip, deflate, br, zstd …);
    the body is whole already, so only the encoding is handed over (no length checks)."""
    try:
        return bytes(urllib3.HTTPResponse(
            body=io.BytesIO(data), headers={"Content-Encoding": encoding},
            preload_content=True, decode_content=True).data)
    except urllib3.exceptions.DecodeError as exc:  # as requests raises it
        raise ContentDecodingError(exc) from None
    except (urllib3.exceptions.HTTPError, ValueError) as exc:  # answered, but unreadable
        raise _aborted(exc) from None
