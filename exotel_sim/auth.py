"""Basic auth as Exotel does it: user = API key OR account SID, password = API token."""

from __future__ import annotations

import base64
import binascii
import hmac
from enum import Enum

from exotel_sim.config import SimConfig


class AuthResult(Enum):
    OK = "ok"
    FAILED = "failed"  # 401
    UNKNOWN_ACCOUNT = "unknown-account"  # 404: good credentials, no such account sid


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic …`` header."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _matches(sid: str, user: str, password: str, cfg: SimConfig) -> bool:
    account = cfg.accounts.get(sid)
    if account is None:
        return False
    token_ok = hmac.compare_digest(password.encode(), account.api_token.get_secret_value().encode())
    user_ok = hmac.compare_digest(user.encode(), account.api_key.encode()) or hmac.compare_digest(
        user.encode(), sid.encode()
    )
    return token_ok and user_ok


def authenticate(cfg: SimConfig, sid: str, header: str | None) -> AuthResult:
    """Check the caller may act on account ``sid``."""
    creds = basic_credentials(header)
    if creds is None:
        return AuthResult.FAILED
    if _matches(sid, *creds, cfg):
        return AuthResult.OK
    if sid not in cfg.accounts and any(_matches(other, *creds, cfg) for other in cfg.accounts):
        return AuthResult.UNKNOWN_ACCOUNT
    return AuthResult.FAILED
