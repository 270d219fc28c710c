"""dialer.callback_token: the per-attempt token in the StatusCallback URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer import callback_token, webhooks
from dialer.callback_token import (
    TOKEN_LENGTH,
    callback_path,
    callback_url,
    sign_attempt,
    verify_attempt,
)

SECRET = "s3cret-callback-key"

# --- tokens -------------------------------------------------------------------------------


def test_token_round_trip_and_shape() -> None:
    token = sign_attempt(SECRET, "att_01-X")
    assert len(token) == TOKEN_LENGTH
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    assert token == sign_attempt(SECRET, "att_01-X")
    assert verify_attempt(SECRET, "att_01-X", token)


def test_token_is_hmac_sha256_base64url() -> None:
    mac = hmac.new(SECRET.encode(), b"att1", hashlib.sha256).digest()
    assert sign_attempt(SECRET, "att1") == base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _flip(token: str, index: int) -> str:
    ch = "A" if token[index] != "A" else "B"
    return token[:index] + ch + token[index + 1 :]


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda t: _flip(t, 0), id="first-char"),
        pytest.param(lambda t: _flip(t, TOKEN_LENGTH - 1), id="last-char"),
        pytest.param(lambda t: t[:-1], id="too-short"),
        pytest.param(lambda t: t + "A", id="too-long"),
        pytest.param(lambda t: t + "=", id="padded"),
        pytest.param(lambda t: t.upper(), id="upper"),
        pytest.param(lambda t: " " + t[1:], id="space"),
        pytest.param(lambda t: "é" * TOKEN_LENGTH, id="non-ascii"),
        pytest.param(lambda t: "٣" * TOKEN_LENGTH, id="unicode-digits"),
        pytest.param(lambda t: t[:-1] + "\n", id="newline"),
        pytest.param(lambda t: None, id="none"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t.encode(), id="bytes"),
        pytest.param(lambda t: sign_attempt("other-secret", "att1"), id="other-secret"),
        pytest.param(lambda t: sign_attempt(SECRET, "att2"), id="other-attempt"),
    ],
)
def test_forged_tokens_do_not_verify(forged: Any) -> None:
    token = sign_attempt(SECRET, "att1")
    bad = forged(token)
    assert bad != token
    assert verify_attempt(SECRET, "att1", bad) is False


def test_empty_secret_never_signs_or_verifies() -> None:
    token = sign_attempt(SECRET, "att1")
    for secret in ("", "   "):
        with pytest.raises(ValueError):
            sign_attempt(secret, "att1")
        assert verify_attempt(secret, "att1", token) is False
    assert verify_attempt(None, "att1", token) is False  # type: ignore[arg-type]


BAD_ATTEMPT_IDS = ["", "a" * 65, "a/b", "a b", "a.b", "ü", "a\n", "a?token=x", "../x"]


@pytest.mark.parametrize("attempt_id", BAD_ATTEMPT_IDS)
def test_invalid_attempt_ids(attempt_id: str) -> None:
    with pytest.raises(ValueError):
        sign_attempt(SECRET, attempt_id)
    with pytest.raises(ValueError):
        callback_url("https://dialer.example.com", SECRET, attempt_id)
    with pytest.raises(ValueError):
        callback_path(attempt_id)
    assert verify_attempt(SECRET, attempt_id, sign_attempt(SECRET, "a")) is False


@pytest.mark.parametrize(
    ("base", "prefix"),
    [
        ("https://dialer.example.com", "https://dialer.example.com"),
        ("https://dialer.example.com/", "https://dialer.example.com"),
        ("http://127.0.0.1:8000//", "http://127.0.0.1:8000"),
        ("https://example.com/dialer/", "https://example.com/dialer"),
    ],
)
def test_callback_url(base: str, prefix: str) -> None:
    url = callback_url(base, SECRET, "A-1_b")
    assert url.startswith(f"{prefix}/v1/callbacks/exotel/A-1_b?token=")
    parts = urlsplit(url)
    assert parts.path.endswith(callback_path("A-1_b"))
    (token,) = parse_qs(parts.query)["token"]
    assert verify_attempt(SECRET, "A-1_b", token)
    assert "a" * 64 in callback_url(base, SECRET, "a" * 64)


@pytest.mark.parametrize(
    "base",
    ["", "dialer.example.com", "ftp://x.example", "https://", "https://x/?a=1", "https://x/#f"],
)
def test_callback_url_rejects_bad_bases(base: str) -> None:
    with pytest.raises(ValueError):
        callback_url(base, SECRET, "att1")


def test_callback_url_rejects_empty_secret() -> None:
    with pytest.raises(ValueError):
        callback_url("https://x.example", "", "att1")



ATTEMPT_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
SECRETS = st.text(min_size=1, max_size=64).filter(lambda s: s.strip() != "")


@settings(max_examples=150, deadline=None)
@given(secret=SECRETS, attempt_id=ATTEMPT_IDS, other=ATTEMPT_IDS, junk=st.none() | st.text())
def test_token_properties(secret: str, attempt_id: str, other: str, junk: str | None) -> None:
    token = sign_attempt(secret, attempt_id)
    assert verify_attempt(secret, attempt_id, token)
    assert verify_attempt(secret, other, token) is (other == attempt_id)
    assert verify_attempt(secret, attempt_id, junk) is (junk == token)
    assert verify_attempt("", attempt_id, token) is False



def test_webhooks_re_exports_the_token_names() -> None:
    for name in ("sign_attempt", "verify_attempt", "callback_path", "callback_url",
                 "TOKEN_LENGTH", "ATTEMPT_ID_RE"):
        assert getattr(webhooks, name) is getattr(callback_token, name)


def test_module_is_pure() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dialer.callback_token\n"
        "bad = [m for m in ('redis', 'celery', 'fastapi', 'requests', 'pydantic')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
