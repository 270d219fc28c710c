"""Settings errors as operators read them: the variable, the problem, never a secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialer.redact import is_sensitive, redact_url

ENV_PREFIX = "DIALER_"

_SECRET_FIELDS = {"api_token", "callback_secret", "redis_sentinel_password"}


def _masked(value: Any) -> Any:
    """``value`` with every secret-looking entry of a mapping masked, containers shortened."""
    if isinstance(value, Mapping):
        return {str(k): "<secret>" if is_sensitive(str(k)) or str(k) in _SECRET_FIELDS
                else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return f"<a list of {len(value)}>"
    return value


def _shown(loc: list[str], value: Any) -> str:
    """What an error message may show of a bad ``value`` at ``loc``: never a secret."""
    if any(p in _SECRET_FIELDS or is_sensitive(p) for p in loc):
        return "<secret>"
    if loc[0] == "redis_url" and isinstance(value, str):
        return repr(redact_url(value))
    if loc[0] == "accounts" and len(loc) < 3 and not isinstance(value, Mapping):
        return f"<{type(value).__name__}>"  # a bare string or list there may be a token
    return repr(_masked(value))


def describe_error(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    if not loc:  # a check across several fields: the message names them
        return str(err.get("msg"))
    var = ENV_PREFIX + loc[0].upper()
    where = ".".join(loc[1:])
    value = _shown(loc, err.get("input"))
    inner = f" at {where}" if where else ""
    if len(value) > 200:
        value = value[:200] + "…"
    return f"{var}{inner}: {err.get('msg')} (got {value})"
