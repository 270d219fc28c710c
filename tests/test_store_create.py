"""Writing new calls a chunk per script (dialer.store_create): what each call holds, its
event, idempotency keys (within a chunk, across chunks, from two processes at once), a
chunk sent again after a lost reply, and a chunk that fails part way through a batch."""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dialer.lua_create import CREATE_CHUNK
from dialer.producer import Producer
from dialer.settings import Settings
from dialer.store import NewCall, Store

ACCOUNT = {"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}
REQUEST = {"From": "+919810000010", "To": "+919820000010", "CallerId": "08030752400",
           "CallType": "trans"}


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r)


def varied(n: int, keyed_every: int = 3) -> list[NewCall]:
    """Calls whose every field varies (so each is sent as a column of n values)."""
    out = []
    for i in range(n):
        out.append(NewCall(
            account=("main", "second")[i % 2], mode=("connect", "flow")[i % 2],
            request={**REQUEST, "To": f"+91982{i:07d}"},
            metadata={"i": i, "name": "ü"} if i % 4 == 0 else {},
            idem_key=f"key-{i}" if i % keyed_every == 0 else "",
            policy={"max_retries": i % 5} if i % 5 == 1 else {},
            campaign_id="c7" if i % 7 == 0 else "",
            custom_field="order|ü" if i % 6 == 0 else "",
        ))
    return out


def expected_hash(c: NewCall) -> dict[str, str]:
    """What a call hash holds: what the request says, empty fields left out."""
    request = {k: v for k, v in c.request.items() if k != "CallType"}
    want = {"account": c.account, "mode": c.mode,
            "request": json.dumps(request, separators=(",", ":"))}
    optional = {"metadata": json.dumps(c.metadata, separators=(",", ":")) if c.metadata
                else "", "idem_key": c.idem_key,
                "policy": json.dumps(c.policy) if c.policy else "",
                "campaign_id": c.campaign_id, "custom_field": c.custom_field}
    return {**want, **{k: v for k, v in optional.items() if v}}


def created_events(r: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in r.xrange("dialer:events") if fields["type"] == "created"]


def test_each_call_holds_its_own_fields_and_gets_its_created_event(store: Store) -> None:
    calls = varied(2 * CREATE_CHUNK + 300)
    made = store.create_calls(calls, delay_ms=0)
    assert all(m.created for m in made) and len({m.call_id for m in made}) == len(calls)
    for c, m in zip(calls, made, strict=True):
        raw = store.r.hgetall(store.keys.call(m.call_id))
        created_at = raw.pop("created_at")
        assert raw == expected_hash(c) and int(created_at) > 0
        assert m.attempt_id == f"{m.call_id}-1"
        assert store.get_attempt(m.attempt_id)["state"] == "pending"
    events = created_events(store.r)
    assert [e["call_id"] for e in events] == [m.call_id for m in made]
    for c, m, e in zip(calls, made, events, strict=True):
        assert (e["attempt_id"], e["attempt"], e["state"], e["account"], e["campaign_id"],
                e["custom_field"], e["idempotency_key"]) == (
            m.attempt_id, "1", "queued", c.account, c.campaign_id, c.custom_field, c.idem_key)
    assert store.counts()["calls"] == len(calls)
    assert store.r.zcard(store.keys.due) == len(calls)
    # the same fields as every other event (the prelude's event())
    assert store.cancel_pending(made[0].attempt_id, "stopped")
    cancelled = [f for _, f in store.r.xrange("dialer:events") if f["type"] == "cancelled"]
    assert set(events[0]) == set(cancelled[0])


def test_one_value_for_the_whole_chunk_is_sent_once_and_written_to_each(
        store: Store) -> None:
    calls = [NewCall("main", "connect", REQUEST, {"a": 1}, policy={"max_retries": 0},
                     campaign_id="c1", custom_field="same") for _ in range(50)]
    made = store.create_calls(calls, delay_ms=-1)  # the caller publishes: marked sent
    for m in made:
        raw = store.r.hgetall(store.keys.call(m.call_id))
        raw.pop("created_at")
        assert raw == expected_hash(calls[0])
    assert store.r.zcard(store.keys.pending) == 50 and store.r.zcard(store.keys.due) == 0


def test_an_idempotency_key_makes_one_call_within_a_chunk_and_across_chunks(
        store: Store) -> None:
    (first,) = store.create_calls([NewCall("main", "connect", REQUEST, {}, idem_key="k0")])
    token, _ = store.claim(first.attempt_id)  # its attempt hash is written now
    assert token
    batch = [NewCall("main", "connect", REQUEST, {}, idem_key=f"k{i % 700}")
             for i in range(CREATE_CHUNK + 400)]
    made = store.create_calls(batch, delay_ms=0)
    by_key: dict[str, set[str]] = {}
    for c, m in zip(batch, made, strict=True):
        by_key.setdefault(c.idem_key, set()).add(m.call_id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert by_key["k0"] == {first.call_id}
    assert [m.created for m in made[:700]] == [False] + [True] * 699
    assert not any(m.created for m in made[700:])
    assert made[0].attempt_id == first.attempt_id
    assert store.counts()["calls"] == 700 and len(created_events(store.r)) == 700
    # the same key on another account is another call
    (other,) = store.create_calls([NewCall("second", "connect", REQUEST, {}, idem_key="k0")])
    assert other.created and other.call_id != first.call_id


def test_a_chunk_sent_again_writes_nothing_twice(store: Store) -> None:
    store.create_calls([NewCall("second", "connect", REQUEST, {}, idem_key="key-3")])
    calls = varied(400)  # its call 3 has that key
    ids, args = store.chunk_args(calls, 0)
    first = store.run_chunk(ids, args)
    snapshot = (store.r.dbsize(), store.r.xlen("dialer:events"), store.counts())
    again = store.run_chunk(ids, args)  # as a client resending a command whose reply was lost
    assert again == first
    assert (store.r.dbsize(), store.r.xlen("dialer:events"), store.counts()) == snapshot
    assert sum(m.created for m in first) == 399 and not first[3].created


class ReplyDropper:
    """A TCP proxy to Redis that, once armed, drops the connection instead of passing on
    the first array reply (a script's): the script ran, its reply is lost."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and data.startswith(b"*") and self.armed.is_set():
                    self.armed.clear()
                    self.dropped.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()

    def close(self) -> None:
        self.server.close()


def test_a_lost_reply_resent_by_the_client_creates_each_call_once(redis_url: str,
                                                                   r: redis.Redis) -> None:
    url = urlparse(redis_url)
    proxy = ReplyDropper((url.hostname or "127.0.0.1", url.port or 6379))
    retrying = redis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.path[1:] or 0),
                           decode_responses=True, retry=Retry(NoBackoff(), 2),
                           retry_on_error=[redis.ConnectionError])
    try:
        store = Store(retrying)
        store.create_calls([NewCall("main", "connect", REQUEST, {})])  # the script loaded
        calls = varied(300, keyed_every=2)
        proxy.armed.set()
        made = store.create_calls(calls, delay_ms=0)
        assert proxy.dropped.is_set()  # the chunk ran, its reply was lost, it was resent
        assert all(m.created for m in made) and len({m.call_id for m in made}) == 300
        assert r.xlen("dialer:events") == 301 and int(r.get("dialer:calls:created")) == 301
        assert r.zcard("dialer:due") == 300
        assert len(list(r.scan_iter("dialer:call:*", count=1000))) == 301
        for m in made:
            assert r.exists(f"dialer:call:{m.call_id}")
    finally:
        retrying.close()
        proxy.close()


def test_a_failing_chunk_writes_nothing_and_the_error_says_what_is_written(
        store: Store) -> None:
    calls = varied(3 * CREATE_CHUNK, keyed_every=1)  # every call has its key
    real = store.chunk_args
    built: list[int] = []

    def breaks_second(*args: Any) -> Any:
        built.append(1)
        # the second chunk is built while Redis runs the first (its script ends before
        # these two commands run): the events stream is no stream now, the script refuses
        if len(built) == 2:
            store.r.rename(store.keys.events, store.keys.events + ":ok")
            store.r.set(store.keys.events, "x")
        return real(*args)

    store.chunk_args = breaks_second  # type: ignore[method-assign]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE") as info:
        store.create_calls(calls, delay_ms=0)
    assert any("1000 (calls 0..999) are written; calls 1000..1999 are not" in note
               for note in info.value.__notes__)
    assert int(store.r.get(store.keys.calls_created)) == CREATE_CHUNK
    assert store.r.zcard(store.keys.due) == CREATE_CHUNK
    assert len(list(store.r.scan_iter("dialer:call:*", count=1000))) == CREATE_CHUNK
    assert len(list(store.r.scan_iter("dialer:idem:*", count=1000))) == CREATE_CHUNK
    # the caller tries again: the first thousand are found, the rest created
    store.r.delete(store.keys.events)
    store.r.rename(store.keys.events + ":ok", store.keys.events)
    store.chunk_args = real  # type: ignore[method-assign]
    made = store.create_calls(calls, delay_ms=0)
    assert [m.created for m in made] == [False] * CREATE_CHUNK + [True] * 2 * CREATE_CHUNK
    assert store.counts()["calls"] == 3 * CREATE_CHUNK
    assert len(created_events(store.r)) == 3 * CREATE_CHUNK


def _enqueue_in_another_process(url: str, requests: list[dict[str, str]],
                                start: Any, out: Any) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    producer = Producer(client, Settings(accounts=[ACCOUNT]))
    news = producer.validate_many(requests)  # warm: both then write at the same moment
    out.put(len(news))
    start.wait(60)
    out.put(dict(zip((q["idempotency_key"] for q in requests),
                     producer.enqueue_many(requests), strict=True)))


def test_the_same_keys_from_two_processes_at_once_give_one_call_each(redis_url: str,
                                                                     r: redis.Redis) -> None:
    requests = [{"from": f"+9198{i:08d}", "to": f"+9197{i:08d}", "idempotency_key": f"o-{i}"}
                for i in range(2500)]
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_enqueue_in_another_process,
                         args=(redis_url, batch, start, out), daemon=True)
             for batch in (requests, requests[::-1])]
    for p in procs:
        p.start()
    assert [out.get(timeout=120) for _ in procs] == [2500, 2500]  # both ready
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    deadline = time.monotonic() + 30
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        assert p.exitcode == 0
    assert results[0] == results[1] and len(set(results[0].values())) == 2500
    assert int(r.get("dialer:calls:created")) == 2500 and r.zcard("dialer:due") == 2500
    assert len(created_events(r)) == 2500


def test_chunks_go_through_when_redis_lost_the_script(store: Store) -> None:
    calls = varied(2 * CREATE_CHUNK + 10)
    store.r.script_flush()
    made = store.create_calls(calls, delay_ms=0)
    assert all(m.created for m in made) and len({m.call_id for m in made}) == len(calls)
    assert store.counts()["calls"] == len(calls)
    assert len(created_events(store.r)) == len(calls)


def test_a_connection_dropped_under_a_chunk_sends_it_again_and_writes_it_once(
        store: Store) -> None:
    calls = varied(3 * CREATE_CHUNK)
    real = store.chunk_args
    built: list[int] = []

    def drops_the_first_chunks_reply(*args: Any) -> Any:
        built.append(1)
        if len(built) == 2:  # while the first chunk runs: its reply will not arrive
            store.r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        return real(*args)

    store.chunk_args = drops_the_first_chunks_reply  # type: ignore[method-assign]
    made = store.create_calls(calls, delay_ms=0)
    assert [m.created for m in made] == [True] * len(calls)
    assert len({m.call_id for m in made}) == len(calls)
    assert store.counts()["calls"] == len(calls)
    assert store.r.zcard(store.keys.due) == len(calls)
    assert len(created_events(store.r)) == len(calls)


def test_no_calls_write_nothing(store: Store) -> None:
    assert store.create_calls([], delay_ms=0) == []
    assert Producer(store.r, Settings(accounts=[ACCOUNT])).enqueue_many([]) == []
    assert store.r.dbsize() == 0
