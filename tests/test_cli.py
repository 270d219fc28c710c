"""The `dialer` command: help everywhere, exit codes scripts can rely on, no tracebacks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dialer import __version__
from dialer.cli import main

ACCOUNTS = json.dumps([{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "t",
                        "caller_id": "08030752400"}])


def test_version() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in ("call", "status", "unknown", "resolve", "worker", "beat", "web", "redis",
                 "simulator", "demo"):
        assert name in top.output
        res = runner.invoke(main, [name, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output, name


def test_bad_setting_exits_3_naming_it_without_traceback(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("DIALER_RATE_LIMIT_CALLS", "0")
    res = CliRunner().invoke(main, ["status", "abc"])
    assert res.exit_code == 3
    assert "DIALER_RATE_LIMIT_CALLS" in res.output and "Traceback" not in res.output


def test_unreachable_redis_exits_5(monkeypatch: pytest.MonkeyPatch) -> None:
    from dialer.embedded import free_port

    monkeypatch.setenv("DIALER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("DIALER_REDIS_CONNECT_TIMEOUT_S", "1")
    res = CliRunner().invoke(main, ["status", "abc"])
    assert res.exit_code == 5 and "did not answer" in res.output


def test_bad_call_exits_2_naming_the_field(redis_url: str, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", ACCOUNTS)
    res = CliRunner().invoke(main, ["call", "--from", "12ab", "--to", "09820000010"])
    assert res.exit_code == 2 and "From" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["call", "--from", "09810000010", "--to", "09820000010",
                                    "--param", "TimeLimit=20000"])
    assert res.exit_code == 2 and "TimeLimit" in res.output


def test_call_prints_the_call_id(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", redis_url)
    monkeypatch.setenv("DIALER_ACCOUNTS", ACCOUNTS)
    res = CliRunner().invoke(main, ["call", "--from", "09810000010", "--to", "09820000010"])
    assert res.exit_code == 0, res.output
    assert len(res.output.strip()) == 24


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_RATE_LIMIT_CALLS", "0")
    res = CliRunner().invoke(main, ["--debug", "status", "abc"])
    assert res.exit_code != 0 and res.exception is not None
