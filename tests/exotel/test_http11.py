"""The request writer and answer reader of the lean exchange (:mod:`dialer.exotel.http11`):
the bytes ``http.client`` would send, and every answer framing read strictly."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator

import pytest

from dialer.exotel import http11
from dialer.exotel.http11 import Closed, Malformed, read_answer, request_bytes

HEADERS = {"User-Agent": "exotel-dialer/1", "Accept": "application/json",
           "Authorization": "Basic a2V5OnRva2Vu", "Content-Length": "7",
           "Content-Type": "application/x-www-form-urlencoded"}


def what_http_client_sends(host: str, port: int | None, method: str, path: str,
                           headers: dict[str, str], body: bytes | str | None) -> bytes:
    conn = http.client.HTTPConnection(host, port)
    ours, theirs = socket.socketpair()
    conn.sock = ours
    try:
        conn.request(method, path, body=body, headers=headers)
        ours.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := theirs.recv(65536):
            data += chunk
        return data
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize(("host", "port"), [
    ("api.exotel.com", None), ("api.exotel.com", 80), ("127.0.0.1", 8765),
    ("::1", 8080), ("fe80::1%eth0", 80), ("bücher.example", 443),
])
@pytest.mark.parametrize(("method", "headers", "body"), [
    ("POST", HEADERS, b"From=%2B"),
    ("POST", {**HEADERS, "Accept-Encoding": "gzip, deflate"}, "From=%2B"),
    ("GET", {"Accept": "application/json"}, None),
    ("POST", {"Accept": "application/json"}, None),
    ("POST", {"Accept": "application/json"}, b"abc"),
    ("GET", {"Accept": "application/json"}, b""),
    ("post", {"Accept": "application/json"}, None),
    ("POST", {"Host": "other.example", "Accept": "application/json"}, b"x"),
    ("POST", {"X-Bytes": b"abc", "Accept": "application/json"}, b"x"),
])
def test_the_request_is_what_http_client_sends(host: str, port: int | None, method: str,
                                               headers: dict[str, str],
                                               body: bytes | str | None) -> None:
    expected = what_http_client_sends(host, port, method, "/v1/Accounts/AC/Calls/connect",
                                      headers, body)
    host_line = http11.host_header(host, port, 80)
    assert request_bytes(method, "/v1/Accounts/AC/Calls/connect", host_line, headers,
                         body) == expected


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/x", {"X-Evil": "a\r\nInjected: yes"}),
    ("POST", "/x", {"X-Evil": "a\nb"}),
    ("POST", "/x", {"Bad Name": "a"}),
    ("POST", "/x", {"Bad:Name": "a"}),
    ("POST", "/x", {"": "a"}),
    ("POST", "/x y", {}),
    ("POST", "/x\r\nHost: evil", {}),
    ("PO ST", "/x", {}),
    ("POST\n", "/x", {}),
    ("", "/x", {}),
    ("PÖST", "/x", {}),
    ("POST", "/bücher", {}),
    ("POST", "/x", {"X-Nul": "a\x00b"}),
    ("POST", "/x", {"X-Bytes": b"a\r\nInjected: yes"}),
    ("POST", "/x", {"Transfer-Encoding": "chunked"}),
])
def test_a_request_that_could_split_is_refused(method: str, path: str,
                                               headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        request_bytes(method, path, "h", headers, b"")


def test_an_empty_path_is_the_root_and_a_str_body_goes_as_utf8() -> None:
    sent = request_bytes("POST", "", "h", {"Content-Length": "2"}, "é")
    assert sent.startswith(b"POST / HTTP/1.1\r\n") and sent.endswith(b"\r\n\r\n\xc3\xa9")


@pytest.fixture()
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def answer_to(pair: tuple[socket.socket, socket.socket], raw: bytes, method: str = "POST",
              close: bool = False) -> http11.Answer:
    ours, theirs = pair
    writer = threading.Thread(target=theirs.sendall, args=(raw,))  # may exceed the buffer
    writer.start()
    try:
        if close:
            writer.join(5)
            theirs.shutdown(socket.SHUT_WR)
        return read_answer(ours, method)
    finally:
        writer.join(5)


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")


def test_a_length_framed_answer_keeps_the_connection(pair: tuple[socket.socket, socket.socket]
                                                     ) -> None:
    got = answer_to(pair, head("HTTP/1.1 200 OK", "Content-Type: application/json",
                               "Content-Length: 2") + b"{}")
    assert got == http11.Answer(200, "OK", [("Content-Type", "application/json"),
                                            ("Content-Length", "2")], b"{}", False)


@pytest.mark.parametrize(("lines", "will_close"), [
    (("HTTP/1.1 200 OK", "Connection: close"), True),
    (("HTTP/1.1 200 OK", "Connection: Keep-Alive, Close"), True),
    (("HTTP/1.0 200 OK",), True),
    (("HTTP/1.0 200 OK", "Connection: keep-alive"), False),
    (("HTTP/1.1 200 OK", "Connection: keep-alive"), False),
])
def test_the_server_says_whether_the_connection_is_kept(
        pair: tuple[socket.socket, socket.socket], lines: tuple[str, ...],
        will_close: bool) -> None:
    got = answer_to(pair, head(*lines, "Content-Length: 1") + b"x")
    assert (got.body, got.will_close) == (b"x", will_close)


def test_a_chunked_answer_with_extensions_and_trailers(
        pair: tuple[socket.socket, socket.socket]) -> None:
    raw = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + (
        b"5;name=value\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\nX-Trailer: t\r\n\r\n")
    got = answer_to(pair, raw)
    assert (got.body, got.will_close) == (b'{"a": 1}', False)


def test_chunked_and_a_length_reads_the_chunks_and_drops_the_connection(
        pair: tuple[socket.socket, socket.socket]) -> None:
    raw = head("HTTP/1.1 200 OK", "Content-Length: 100", "Transfer-Encoding: chunked") + (
        b"2\r\nok\r\n0\r\n\r\n")
    got = answer_to(pair, raw)
    assert (got.body, got.will_close) == (b"ok", True)


def test_a_body_without_a_length_runs_to_the_close(pair: tuple[socket.socket, socket.socket]
                                                   ) -> None:
    got = answer_to(pair, head("HTTP/1.1 200 OK") + b"all of it", close=True)
    assert (got.body, got.will_close) == (b"all of it", True)


@pytest.mark.parametrize(("method", "status"), [("HEAD", "200 OK"), ("POST", "204 No Content"),
                                                ("GET", "304 Not Modified")])
def test_no_body_for_head_204_and_304(pair: tuple[socket.socket, socket.socket], method: str,
                                      status: str) -> None:
    got = answer_to(pair, head(f"HTTP/1.1 {status}", "Content-Length: 5"), method=method)
    assert (got.body, got.will_close) == (b"", False)


def test_interim_answers_are_skipped(pair: tuple[socket.socket, socket.socket]) -> None:
    raw = (head("HTTP/1.1 100 Continue") + head("HTTP/1.1 103 Early Hints", "Link: </a>")
           + head("HTTP/1.1 201 Created", "Content-Length: 2") + b"{}")
    got = answer_to(pair, raw)
    assert (got.status, got.reason, got.body) == (201, "Created", b"{}")


def test_bytes_after_the_answer_drop_the_connection(
        pair: tuple[socket.socket, socket.socket]) -> None:
    raw = head("HTTP/1.1 200 OK", "Content-Length: 2") + b"{}" + head("HTTP/1.1 200 OK")
    assert answer_to(pair, raw).will_close is True


def test_repeated_equal_lengths_are_one_length(pair: tuple[socket.socket, socket.socket]
                                               ) -> None:
    got = answer_to(pair, head("HTTP/1.1 200 OK", "Content-Length: 2",
                               "Content-Length: 2, 2") + b"{}")
    assert got.body == b"{}"


def test_a_folded_value_joins_with_one_space(pair: tuple[socket.socket, socket.socket]
                                             ) -> None:
    got = answer_to(pair, head("HTTP/1.1 200 OK", "X-Note: one", "  two", "\tthree",
                               "Content-Length: 0"))
    assert got.headers[0] == ("X-Note", "one two three")


@pytest.mark.parametrize("raw", [
    head("HTTP/2 200 OK", "Content-Length: 0"),
    head("HTTP/1.1 2000 OK", "Content-Length: 0"),
    head("HTTP/1.1 20 OK", "Content-Length: 0"),
    head("HTTP/1.1 +20 OK", "Content-Length: 0"),
    head("HTTP/1.1 099 Low", "Content-Length: 0"),
    head("ICY 200 OK", "Content-Length: 0"),
    head("HTTP/1.1 101 Switching Protocols", "Upgrade: h2c"),
    head("HTTP/1.1 200 OK", "no colon here", "Content-Length: 0"),
    head("HTTP/1.1 200 OK", "Name : spaced", "Content-Length: 0"),
    head("HTTP/1.1 200 OK", " folded first", "Content-Length: 0"),
    head("HTTP/1.1 200 OK", *[f"X-{i}: {i}" for i in range(101)]),
    head("HTTP/1.1 200 OK", "X-Big: " + "a" * 70000),
    head("HTTP/1.1 200 OK", "Content-Length: 2", "Content-Length: 3") + b"{}",
    head("HTTP/1.1 200 OK", "Content-Length: abc"),
    head("HTTP/1.1 200 OK", "Content-Length: -1"),
    head("HTTP/1.1 200 OK", "Content-Length: +2") + b"{}",
    head("HTTP/1.1 200 OK", f"Content-Length: {http11.MAX_BODY + 1}"),
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"0x2\r\nok\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"zz\r\nok\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"2\r\nokXX0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")
    + f"{http11.MAX_BODY + 1:x}\r\n".encode(),
    head("HTTP/1.1 100 Continue") * (http11.MAX_INTERIM + 1),
    head("HTTP/1.1 200 OK", "Content-Length: " + "0" * 4301 + "2") + b"ok",
    head("HTTP/1.1 200 OK", "Content-Length: \x1c2") + b"ok",
    head("HTTP/1.1 200 OK", "Content-Length: \xb2") + b"ok",
    head("HTTP/1.1 200 OK", "X-A: a\nContent-Length: 2") + b"ok",
    head("HTTP/1.1 200 OK", "X-A: a\rb", "Content-Length: 2") + b"ok",
    head("HTTP/1.1 200 OK", "X-A: a\x00b", "Content-Length: 2") + b"ok",
    head("HTTP/1.1 200 O\nK", "Content-Length: 2") + b"ok",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip") + b"all of it",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked") + b"2\r\nok\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, chunked") + b"2\r\nok\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\x85") + b"2\r\nok\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")
    + b"1;" + b"e" * (http11.MAX_CHUNK_LINE + 1) + b"\r\nx\r\n0\r\n\r\n",
    head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"0\r\n"
    + b"X-T: " + b"t" * (http11.MAX_CHUNK_LINE + 1) + b"\r\n\r\n",
], ids=lambda raw: raw[:40].decode("iso-8859-1", "replace"))
def test_a_malformed_answer_is_refused(pair: tuple[socket.socket, socket.socket],
                                       raw: bytes) -> None:
    with pytest.raises(Malformed):
        answer_to(pair, raw, close=True)


@pytest.mark.parametrize(("raw", "partial"), [
    (b"", False),
    (b"HTTP/1.1 200 OK\r\nContent-Le", True),
    (head("HTTP/1.1 200 OK", "Content-Length: 10") + b"short", True),
    (head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"5\r\nab", True),
])
def test_a_close_before_the_whole_answer(pair: tuple[socket.socket, socket.socket], raw: bytes,
                                         partial: bool) -> None:
    with pytest.raises(Closed) as info:
        answer_to(pair, raw, close=True)
    assert info.value.partial is partial


def test_chunked_on_http_1_0_drops_the_connection(pair: tuple[socket.socket, socket.socket]
                                                  ) -> None:
    raw = head("HTTP/1.0 200 OK", "Connection: keep-alive", "Transfer-Encoding: chunked") + (
        b"2\r\nok\r\n0\r\n\r\n")
    got = answer_to(pair, raw)
    assert (got.body, got.will_close) == (b"ok", True)


def test_too_many_chunks_are_refused(pair: tuple[socket.socket, socket.socket],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "MAX_CHUNKS", 10)
    raw = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"1\r\nx\r\n" * 11 + (
        b"0\r\n\r\n")
    with pytest.raises(Malformed, match="more than 10 chunks"):
        answer_to(pair, raw, close=True)


def test_an_answer_over_the_bytes_cap_is_refused_whatever_its_framing(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk extensions are not body, and are counted: a server cannot make the reader
    keep more than MAX_ANSWER bytes."""
    monkeypatch.setattr(http11, "MAX_ANSWER", 100_000)
    one = b"1;" + b"e" * 4000 + b"\r\nx\r\n"
    raw = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + one * 40 + b"0\r\n\r\n"
    with pytest.raises(Malformed, match="over 100000 bytes"):
        answer_to(pair, raw, close=True)


def test_a_long_answer_is_read_whole_across_many_reads(
        pair: tuple[socket.socket, socket.socket]) -> None:
    body = bytes(range(256)) * 12_000  # 3 MB: the buffer's consumed part is dropped
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50_000]), body[i:i + 50_000])
                      for i in range(0, len(body), 50_000))
    raw = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + chunks + b"0\r\n\r\n"
    got = answer_to(pair, raw)
    assert (got.body, got.will_close) == (body, False)


def test_a_body_larger_than_the_cap_running_to_the_close_is_refused(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "MAX_BODY", 1000)
    with pytest.raises(Malformed, match="over 1000 bytes"):
        answer_to(pair, head("HTTP/1.1 200 OK") + b"x" * 200_000, close=True)
