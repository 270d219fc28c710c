"""Keeping secrets out of text: URLs with passwords, query strings with tokens.

Used wherever a URL or a request line may reach a message or a log: settings errors, the
Redis checks, uvicorn's access log (:mod:`dialer.access_log`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
# Query parameter names whose values are secrets (compared lower-case, after unquoting).
SENSITIVE_NAMES = frozenset({
    "token", "api_token", "access_token", "refresh_token", "id_token", "auth", "auth_token",
    "authorization", "password", "passwd", "pwd", "pass", "secret", "client_secret",
    "api_key", "apikey", "key", "sig", "signature", "session", "sessionid",
})
_SENSITIVE_PARTS = ("token", "passw", "secret", "apikey", "api_key", "signature")
_USERINFO = re.compile(r"(?<=[:/])[^:/@?#\s]*(:[^@/?#\s]*)?@")


def is_sensitive(name: str) -> bool:
    """Whether a query parameter (or form field, header…) called ``name`` holds a secret."""
    n = unquote(name).strip().lower().replace("-", "_")
    return n in SENSITIVE_NAMES or any(part in n for part in _SENSITIVE_PARTS)


def redact_query(query: str) -> str:
    """``query`` (``a=1&token=x``) with the value of every sensitive name masked."""
    if not query:
        return query
    out = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        out.append(f"{name}={MASK}" if eq and is_sensitive(name) else
                   (f"{MASK}" if not eq and is_sensitive(name) else pair))
    return "&".join(out)


def redact_url(url: str) -> str:
    """``url`` without its password (user info or ``?password=``), for messages and logs."""
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
            netloc = f"{user}:{MASK}@{host}"
        # Whatever urlsplit did not see as user info ("redis:/pw@host") is masked too.
        path = _USERINFO.sub(f"{MASK}@", parts.path)
        return urlunsplit((parts.scheme, netloc, path, redact_query(parts.query),
                           parts.fragment))
    except ValueError:
        scheme = url.split(":", 1)[0] if ":" in url else ""
        return f"{scheme[:16]}:{MASK}" if scheme else MASK
