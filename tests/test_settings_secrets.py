"""Secrets in settings never reach an error message, a dump or a repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialer.embedded import check_redis, free_port
from dialer.errors import RedisUnavailableError, SettingsError
from dialer.redact import redact_url
from dialer.settings import load_settings

PASSWORD = "pw-SECRET-4242"
TOKEN = "tok-SECRET-9191"


@pytest.mark.parametrize("url", [
    f"http://:{PASSWORD}@redis.example:6379/0",
    f"http://user:{PASSWORD}@redis.example/0",
    f"redis:/{PASSWORD}@redis.example/0",
    f"ftp://redis.example/0?password={PASSWORD}",
    f"  http://{PASSWORD}@redis.example  ",
])
def test_a_bad_redis_url_is_not_echoed_with_its_password(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", url)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DIALER_REDIS_URL" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("url", [
    f"redis://:{PASSWORD}@h:1/0", f"redis://u:{PASSWORD}@h/0",
    f"redis://h:1/0?password={PASSWORD}", f"redis://h/0?db=1&Password={PASSWORD}&x=1",
    f"unix:///tmp/r.sock?password={PASSWORD}", f"redis://{PASSWORD}@h/0",
])
def test_redact_url_masks_every_password_form(url: str) -> None:
    assert PASSWORD not in redact_url(url)


def test_an_unreachable_url_with_a_query_password_is_masked() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?password={PASSWORD}"
    with pytest.raises(RedisUnavailableError) as info:
        check_redis(url, 0.5)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("accounts", [
    {"name": "main", "sid": "AC1", "api_key": "k", "api_token": TOKEN},
    [{"name": "main", "sid": "AC1", "api_key": "k", "api_token": TOKEN, "bogus": 1}],
    [{"name": "bad name!", "sid": "AC1", "api_key": "k", "api_token": TOKEN}],
    [[TOKEN]],
    f'[{{"api_token": "{TOKEN}"',
])
def test_bad_accounts_never_echo_the_api_token(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, accounts: object) -> None:
    monkeypatch.setenv("DIALER_ACCOUNTS",
                       accounts if isinstance(accounts, str) else json.dumps(accounts))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DIALER_ACCOUNTS" in str(info.value)
    assert TOKEN not in str(info.value)


def test_model_dump_masks_the_redis_password(clean_env: Path) -> None:
    s = load_settings(redis_url=f"redis://:{PASSWORD}@127.0.0.1:6379/0",
                      accounts=[{"name": "main", "sid": "AC1", "api_key": "k",
                                 "api_token": TOKEN}])
    assert s.redis_url.endswith("@127.0.0.1:6379/0")  # the code still gets the real URL
    for text in (str(s.model_dump()), s.model_dump_json(), repr(s), str(s)):
        assert PASSWORD not in text and TOKEN not in text


def test_a_query_password_is_refused_without_echoing_it(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", f"redis://127.0.0.1:6379/0?password={PASSWORD}")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "user info" in str(info.value) and PASSWORD not in str(info.value)
