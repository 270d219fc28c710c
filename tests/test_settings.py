"""Settings load from the environment and .env; every bad value names its variable."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from dialer.errors import SettingsError
from dialer.settings import Settings, load_settings

ACCOUNT = {"name": "main", "sid": "AC1", "api_key": "key1", "api_token": "tok-SECRET-123"}


def test_defaults_carry_the_documented_values(clean_env: Path) -> None:
    s = load_settings()
    assert s.redis_url == ""
    assert s.rate_limit_calls == 200 and s.rate_limit_window_s == 60
    assert s.rate_limit_admitted == 195
    assert s.max_retries == 3
    assert s.accounts == []


def test_loads_from_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_REDIS_URL", "redis://127.0.0.1:6390/2")
    monkeypatch.setenv("DIALER_MAX_RETRIES", "5")
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([{**ACCOUNT, "region": "mumbai"}]))
    s = load_settings()
    assert s.redis_url == "redis://127.0.0.1:6390/2"
    assert s.max_retries == 5
    acc = s.account("main")
    assert acc.v1_base_url == "https://api.in.exotel.com"
    assert acc.v3_base_url == "https://ccm-api.in.exotel.com"


def test_loads_from_dotenv_file(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        "DIALER_RATE_LIMIT_CALLS=100\nDIALER_RATE_LIMIT_MARGIN_CALLS=10\n"
        f"DIALER_ACCOUNTS='{json.dumps([ACCOUNT])}'\n"
    )
    s = load_settings()
    assert s.rate_limit_admitted == 90
    assert s.account("main").v1_base_url == "https://api.exotel.com"


def test_explicit_base_url_replaces_both_regions(clean_env: Path) -> None:
    s = load_settings(accounts=[{**ACCOUNT, "base_url": "http://127.0.0.1:9999/"}])
    assert s.account("main").v1_base_url == "http://127.0.0.1:9999"
    assert s.account("main").v3_base_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("DIALER_RATE_LIMIT_CALLS", "0", "DIALER_RATE_LIMIT_CALLS"),
        ("DIALER_MAX_RETRIES", "-1", "DIALER_MAX_RETRIES"),
        ("DIALER_REDIS_URL", "http://nope", "DIALER_REDIS_URL"),
        ("DIALER_PUBLIC_BASE_URL", "not a url", "DIALER_PUBLIC_BASE_URL"),
        ("DIALER_HTTP_READ_TIMEOUT_S", "abc", "DIALER_HTTP_READ_TIMEOUT_S"),
        ("DIALER_ACCOUNTS", json.dumps([{**ACCOUNT, "region": "mars"}]), "DIALER_ACCOUNTS"),
        ("DIALER_ACCOUNTS", "{not json", "DIALER_ACCOUNTS"),
        ("DIALER_RATE_LIMIT_MARGIN_CALLS", "500", "rate_limit_margin_calls"),
    ],
)
def test_invalid_setting_names_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expected in str(info.value)


def test_bad_value_is_quoted_in_the_message(clean_env: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("DIALER_RATE_LIMIT_CALLS", "0")
    with pytest.raises(SettingsError, match="'0'"):
        load_settings()


def test_secrets_absent_from_repr_errors_and_logs(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DIALER_CALLBACK_SECRET", "cb-SECRET-456")
    monkeypatch.setenv("DIALER_API_TOKEN", "api-SECRET-789")
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps([ACCOUNT]))
    s = load_settings()
    text = repr(s) + str(s) + repr(s.accounts) + str(s.model_dump())
    with caplog.at_level(logging.INFO):
        logging.getLogger("dialer.test").info("settings: %s %r", s, s.accounts[0])
    text += caplog.text
    for secret in ("tok-SECRET-123", "cb-SECRET-456", "api-SECRET-789"):
        assert secret not in text
    # an invalid secret-bearing account does not echo the token either
    bad = [{**ACCOUNT, "region": "mars"}]
    monkeypatch.setenv("DIALER_ACCOUNTS", json.dumps(bad))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "tok-SECRET-123" not in str(info.value)


def test_unknown_account_is_named(clean_env: Path) -> None:
    s = Settings(accounts=[ACCOUNT])
    with pytest.raises(SettingsError, match="'other'"):
        s.account("other")


def test_duplicate_account_names_refused(clean_env: Path) -> None:
    with pytest.raises(SettingsError, match="unique"):
        load_settings(accounts=[ACCOUNT, ACCOUNT])
