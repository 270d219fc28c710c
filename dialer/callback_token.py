"""The per-attempt token in an attempt's StatusCallback URL.

Every attempt gets its own StatusCallback URL,
``{base}/v1/callbacks/exotel/{attempt_id}?token={token}``, where the token is
HMAC-SHA256 over the attempt id keyed with the callback secret, base64url without padding
(:data:`TOKEN_LENGTH` = 43 characters). :func:`verify_attempt` compares in constant time
(``hmac.compare_digest``) and never raises. Neither the secret nor a token appears in an
error message. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import urlsplit

__all__ = [
    "ATTEMPT_ID_RE",
    "TOKEN_LENGTH",
    "callback_path",
    "callback_url",
    "sign_attempt",
    "verify_attempt",
]

ATTEMPT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_LENGTH = 43  # base64url of 32 bytes, without the "=" padding
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _check_attempt_id(attempt_id: str) -> None:
    if not isinstance(attempt_id, str) or not ATTEMPT_ID_RE.fullmatch(attempt_id):
        raise ValueError("attempt id must match [A-Za-z0-9_-]{1,64}")


def sign_attempt(secret: str, attempt_id: str) -> str:
    """The callback token of ``attempt_id``: base64url(HMAC-SHA256(secret, attempt_id)).

    Raises ``ValueError`` for an empty (or whitespace-only) secret or an invalid attempt id.
    """
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError("the callback secret must not be empty")
    _check_attempt_id(attempt_id)
    mac = hmac.new(secret.encode("utf-8"), attempt_id.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def verify_attempt(secret: str, attempt_id: str, token: str | None) -> bool:
    """True when ``token`` is the callback token of ``attempt_id``. Never raises.

    False for a missing, empty, malformed or wrong-length token, an invalid attempt id,
    and always for an empty secret.
    """
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return False
    try:
        expected = sign_attempt(secret, attempt_id)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii"))


def callback_path(attempt_id: str) -> str:
    """The path part of an attempt's callback URL (``ValueError`` for a bad attempt id)."""
    _check_attempt_id(attempt_id)
    return f"/v1/callbacks/exotel/{attempt_id}"


def callback_url(public_base_url: str, secret: str, attempt_id: str) -> str:
    """``{base}/v1/callbacks/exotel/{attempt_id}?token={token}`` for Exotel's StatusCallback.

    ``public_base_url`` is an absolute http(s) URL without query or fragment; a trailing
    slash is ignored. Raises ``ValueError`` for a bad base URL, secret or attempt id.
    """
    path = callback_path(attempt_id)
    base = public_base_url.strip().rstrip("/") if isinstance(public_base_url, str) else ""
    try:
        parts = urlsplit(base)
    except ValueError:
        parts = urlsplit("")
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or "?" in base
        or "#" in base
        or any(c.isspace() for c in base)
    ):
        raise ValueError("public base URL must be an absolute http(s) URL without query")
    return f"{base}{path}?token={sign_attempt(secret, attempt_id)}"
