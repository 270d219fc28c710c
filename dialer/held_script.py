"""A registered Lua script sent on a thread's held connection, past redis-py's command path.

A dialling thread keeps one Redis connection (:mod:`workers.context`: a
``single_connection_client``). For the scripts of a placed call, redis-py's
``execute_command`` costs about a third of a script's client time on top of packing it,
sending it and reading the answer: its retry closure, its observability hooks (timing,
attributes, error counts) and the response-callback look-up, for a command (``EVALSHA``)
that has no callback. :func:`run` sends ``EVALSHA`` and reads the answer on that
connection itself, under the client's own lock and with the connection's own retry
policy, as ``execute_command`` does: a connection error or timeout disconnects, backs
off and sends again. A server that does not know the script (``NOSCRIPT``: Redis restarted
or its scripts flushed) gets it loaded and the script sent once more, as redis-py's
``Script`` does. A client without a held connection (the process's pooled client, a
Sentinel client) runs the script the usual way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError


def run(script: Script, client: redis.Redis, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """``script(keys=keys, args=args)`` on ``client``: on its held connection when it has
    one (module docstring). Redis errors propagate as redis-py raises them."""
    conn = client.connection
    if conn is None:
        return script(keys=keys, args=args, client=client)
    try:
        return _evalsha(client, conn, script.sha, keys, args)
    except NoScriptError:
        script.sha = client.script_load(script.script)
        return _evalsha(client, conn, script.sha, keys, args)


def _evalsha(client: redis.Redis, conn: Any, sha: str, keys: Sequence[Any],
             args: Sequence[Any]) -> Any:
    def send() -> Any:
        conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
        return conn.read_response()

    with client.single_connection_lock:
        try:
            return conn.retry.call_with_retry(send, lambda _error: conn.disconnect())
        finally:
            if conn.should_reconnect():  # the server announced maintenance: a new
                conn.disconnect()        # connection on the next command
