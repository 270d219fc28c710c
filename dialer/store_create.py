"""Writing new calls: :meth:`CreatePath.create_calls`, a chunk of calls per script.

A chunk (:data:`dialer.lua_create.CREATE_CHUNK` calls) is one script call
(:data:`dialer.lua_create.CREATE_CALLS`): its call ids in one argument, then a column per
field, a field every call of the chunk has the same value of sent once. It is written
whole or not at all, and sent again it writes nothing twice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

import redis
from redis.exceptions import NoScriptError

from dialer.keys import EVENTS_MAXLEN, Keys
from dialer.lua_create import CREATE_CALLS, CREATE_CHUNK, ID_LEN

# Parameters a request model fills in by itself (a ``Literal`` with one value): not stored.
IMPLIED_PARAMS = {"CallType": "trans"}


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.JSONEncoder(separators=(",", ":")).encode of a dict, list or number without the
# encoder built again per call (made once: C speed for a chunk's thousand requests)
if c_make_encoder is not None:
    _c_encode = c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",",
                               False, False, True)

    def _compact_json(value: Any) -> str:
        return "".join(_c_encode(value, 0))
else:  # a Python without the json accelerator
    _compact_json = json.JSONEncoder(separators=(",", ":")).encode  # type: ignore[assignment]


def new_call_id() -> str:
    return secrets.token_hex(ID_LEN // 2)


def make_attempt_id(call_id: str, n: int) -> str:
    """Attempt ids are ``{call_id}-{n}``: short enough for CustomField and URLs."""
    return f"{call_id}-{n}"


class NewCall(NamedTuple):
    """A validated request ready to be written (a named tuple: bulk validation makes one
    per call, and a tuple is made several times faster than a frozen dataclass)."""

    account: str
    mode: str
    request: dict[str, Any]  # the Exotel parameters (wire names), validated
    metadata: dict[str, Any]
    idem_key: str = ""
    policy: dict[str, Any] | None = None  # per-call overrides of the retry policy
    campaign_id: str = ""
    custom_field: str = ""  # the caller's CustomField value (after the attempt id)


class Created(NamedTuple):
    call_id: str
    attempt_id: str
    created: bool  # False: the idempotency key named an existing call


class CreatePath:
    """The create path of :class:`dialer.store.Store`."""

    r: redis.Redis
    keys: Keys

    def _register_create_script(self, client: redis.Redis) -> None:
        self._create = client.register_script(CREATE_CALLS)

    def create_calls(self, calls: Sequence[NewCall], *, delay_ms: int = -1) -> list[Created]:
        """Write calls (lean: see :mod:`dialer.store`), a script per :data:`CREATE_CHUNK` calls.

        ``delay_ms`` ≥ 0 puts each first attempt in the due set (the pump sends it);
        -1 marks it sent: the caller publishes its message at once (if that message is
        lost, the sweeper sends it again after ``pending_redeliver_s``).

        Each chunk is written whole or not at all, and the same chunk sent again writes
        nothing twice (its call ids are chosen here, before it is sent), so a client that
        resends a command whose reply was lost creates no call twice. When Redis fails,
        its error is raised with a note saying which calls are written: the chunks before
        the failing one; the failing chunk not, or whole if only its reply was lost; none
        after it. Calling again with the same idempotency keys is safe either way.
        """
        if not calls:
            return []
        if len(calls) <= CREATE_CHUNK:
            return self._run_noted(len(calls), 0, *self.chunk_args(calls, delay_ms))
        return self._create_overlapped(calls, delay_ms)

    def _create_overlapped(self, calls: Sequence[NewCall], delay_ms: int) -> list[Created]:
        """:meth:`create_calls` of several chunks, each chunk's arguments built (and packed)
        while Redis runs the one before. Still one chunk in flight at a time: the next is
        sent only after this one's reply, so an error means what it means in
        :meth:`create_calls`. A connection error or a script Redis does not hold yet
        sends that chunk again through :meth:`run_chunk` (the client's retries, the
        script loaded; a chunk sent again writes nothing twice) and the rest the same way.
        """
        k = self.keys
        head = ("EVALSHA", self._create.sha, 4, k.due, k.pending, k.calls_created, k.events)
        pool = self.r.connection_pool
        conn = pool.get_connection()
        out: list[Created] = []
        starts = range(0, len(calls), CREATE_CHUNK)
        chunk = self.chunk_args(calls[:CREATE_CHUNK], delay_ms)
        packed = conn.pack_command(*head, *chunk[1])
        raw = True  # False after a connection error: the rest through run_chunk
        try:
            for start in starts:
                ids, args = chunk
                following = calls[start + CREATE_CHUNK : start + 2 * CREATE_CHUNK]
                if raw:
                    try:
                        conn.send_packed_command(packed)
                    except (redis.ConnectionError, redis.TimeoutError):
                        conn.disconnect()
                        raw = False
                if raw:
                    if following:  # built while Redis runs this chunk
                        chunk = self.chunk_args(following, delay_ms)
                        packed = conn.pack_command(*head, *chunk[1])
                    try:
                        out.extend(self._created(ids, conn.read_response()))
                        continue
                    except (redis.ConnectionError, redis.TimeoutError):
                        conn.disconnect()
                        raw = False
                    except NoScriptError:
                        pass  # run_chunk loads it
                    except redis.RedisError as exc:
                        self._note(exc, len(calls), start, len(ids))
                        raise
                    out.extend(self._run_noted(len(calls), start, ids, args))
                    continue
                out.extend(self._run_noted(len(calls), start, ids, args))
                if following:
                    chunk = self.chunk_args(following, delay_ms)
        except BaseException:
            conn.disconnect()  # a reply may be left unread on it
            raise
        finally:
            pool.release(conn)
        return out

    def _run_noted(self, total: int, start: int, ids: list[str], args: list[Any]
                   ) -> list[Created]:
        """:meth:`run_chunk` of the chunk of ``ids`` (call ``start`` of ``total`` on), its
        error noted with which calls of the whole batch are written."""
        try:
            return self.run_chunk(ids, args)
        except redis.RedisError as exc:
            self._note(exc, total, start, len(ids))
            raise

    @staticmethod
    def _note(exc: Exception, total: int, start: int, n: int) -> None:
        end = start + n
        exc.add_note(
            f"create_calls: of {total} calls, {start} (calls 0..{start - 1}) "
            f"are written; calls {start}..{end - 1} are not, or all are if only "
            "Redis's reply was lost; the rest are not")

    def chunk_args(self, calls: Sequence[NewCall], delay_ms: int) -> tuple[list[str], list[Any]]:
        """New call ids for ``calls`` and the arguments of their script call
        (:data:`dialer.lua_create.CREATE_CALLS`)."""
        k = self.keys
        n = len(calls)
        blob = secrets.token_hex(ID_LEN // 2 * n)  # n new call ids (new_call_id's)
        ids = [blob[i : i + ID_LEN] for i in range(0, n * ID_LEN, ID_LEN)]
        dumps = _compact_json
        requests = []
        for c in calls:
            request = c.request
            for name, implied in IMPLIED_PARAMS.items():  # implied: not stored
                if request.get(name) == implied:
                    request = request.copy()
                    del request[name]
            requests.append(dumps(request))
        args: list[Any] = [EVENTS_MAXLEN, delay_ms, k.call_prefix, k.idem_prefix, n, blob]
        for values in (
            [c.account for c in calls], [c.mode for c in calls], requests,
            [dumps(c.metadata) if c.metadata else "" for c in calls],
            [c.idem_key for c in calls],
            [json.dumps(c.policy) if c.policy else "" for c in calls],
            [c.campaign_id for c in calls], [c.custom_field for c in calls],
        ):  # the columns of lua_create.COLUMNS
            if values.count(values[0]) == n:
                args += ("1", values[0])
            else:
                args.append("n")
                args += values
        return ids, args

    def run_chunk(self, ids: list[str], args: list[Any]) -> list[Created]:
        """Send one chunk made by :meth:`chunk_args` (again, if its reply was lost)."""
        k = self.keys
        found = self._create(keys=[k.due, k.pending, k.calls_created, k.events], args=args)
        return self._created(ids, found)

    @staticmethod
    def _created(ids: list[str], found: Any) -> list[Created]:
        """The chunk of ``ids``'s outcome from its script's reply."""
        out = [Created(cid, f"{cid}-1", True) for cid in ids]
        for j, verdict in zip(found[::2], found[1::2], strict=True):
            got_id, _, current = str(verdict).partition(" ")
            out[int(j) - 1] = Created(got_id, current or make_attempt_id(got_id, 1), False)
        return out
