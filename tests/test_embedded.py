"""The bundled redis-server: starts, persists with AOF, stops with its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from dialer.embedded import EmbeddedRedis, check_redis, free_port, redact_url
from dialer.errors import RedisUnavailableError
from tests.stack import wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, timeout_s: float = 10.0) -> bool:
    try:
        return bool(wait_for(lambda: not _alive(pid), timeout_s, f"pid {pid} to exit"))
    except AssertionError:
        return False


def test_starts_answers_and_keeps_data_across_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
        assert server.proc is not None
        pid = server.proc.pid
    assert _wait_dead(pid)
    with EmbeddedRedis(tmp_path) as again:
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"
    assert any(tmp_path.rglob("*.aof"))


def test_stopped_when_the_block_raises(tmp_path: Path) -> None:
    pid = None
    with pytest.raises(RuntimeError), EmbeddedRedis(tmp_path) as server:
        assert server.proc is not None
        pid = server.proc.pid
        raise RuntimeError("boom")
    assert pid is not None and _wait_dead(pid)


def test_stopped_when_the_owner_process_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, threading
        from dialer.embedded import EmbeddedRedis
        s = EmbeddedRedis({str(tmp_path)!r}).__enter__()
        print(s.proc.pid, flush=True)
        threading.Event().wait(60)  # until the test kills this owner
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        child_pid = int(owner.stdout.readline())
        assert _alive(child_pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert _wait_dead(child_pid)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_unreachable_url_fails_fast_with_a_clear_message() -> None:
    url = f"redis://:pw-SECRET@127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as info:
        check_redis(url, timeout_s=2.0)
    assert time.monotonic() - started < 5
    assert "did not answer" in str(info.value)
    assert "pw-SECRET" not in str(info.value)


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
