"""Settings: one pydantic-settings model read from ``DIALER_*`` variables and ``.env``.

Only the edges (the Celery app, the CLI, the web app) call :func:`load_settings`; library
code receives a :class:`Settings` (or the pieces it needs) as an argument.

A bad value fails at start-up with :class:`~dialer.errors.SettingsError`, whose message
names the environment variable and the bad value (secrets are never echoed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from dialer.errors import SettingsError
from dialer.redact import is_sensitive, redact_url

ENV_PREFIX = "DIALER_"

REGION_HOSTS: dict[str, tuple[str, str]] = {
    # region: (v1 host, v3 CCM host)
    "singapore": ("https://api.exotel.com", "https://ccm-api.exotel.com"),
    "mumbai": ("https://api.in.exotel.com", "https://ccm-api.in.exotel.com"),
}


class AccountSettings(BaseModel):
    """One Exotel account. ``api_token`` is a secret and never printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sid: str = Field(min_length=1, max_length=128)
    api_key: str = Field(min_length=1, max_length=256)
    api_token: SecretStr
    region: Literal["singapore", "mumbai"] = "singapore"
    # An explicit base URL (e.g. the simulator) replaces both regional hosts.
    base_url: AnyHttpUrl | None = None
    caller_id: str | None = Field(default=None, description="default CallerId / virtual number")
    # Exotel's timestamps (DateCreated …) are local to the account: IST for Exotel India.
    utc_offset_minutes: int = Field(default=330, ge=-720, le=840)

    @field_validator("api_token")
    @classmethod
    def _token_not_empty(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value():
            raise ValueError("api_token must not be empty")
        return v

    @property
    def v1_base_url(self) -> str:
        return str(self.base_url).rstrip("/") if self.base_url else REGION_HOSTS[self.region][0]

    @property
    def v3_base_url(self) -> str:
        return str(self.base_url).rstrip("/") if self.base_url else REGION_HOSTS[self.region][1]


class Settings(BaseSettings):
    """Every setting of the dialer. Each field is read from ``DIALER_<FIELD NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- Redis -----------------------------------------------------------------------
    redis_url: str = Field(
        default="", repr=False,  # it may hold a password
        description="Redis URL; empty = start the bundled redis-server",
    )
    redis_data_dir: Path = Field(
        default=Path(".dialer/redis"), description="AOF data directory of the bundled Redis"
    )
    redis_connect_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="fail fast when Redis does not answer"
    )
    key_prefix: str = Field(
        default="dialer", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$",
        description="prefix of every Redis key the dialer writes",
    )
    # Sentinel and failover (dialer/redis_conn.py, dialer/replication.py, dialer/scheduler.py)
    redis_sentinel_master: str = Field(
        default="mymaster", min_length=1, max_length=128,
        description="master name the sentinels monitor (sentinel:// URLs only)",
    )
    redis_sentinel_password: SecretStr = Field(
        default=SecretStr(""),
        description="password of the sentinels themselves (the master's goes in the URL)",
    )
    redis_tls: bool = Field(
        default=False, description="TLS to the sentinels and the master (sentinel:// URLs)"
    )
    redis_failover_retry_s: float = Field(
        default=15.0, ge=0, le=300,
        description="a sentinel client retries a failed command with backoff this long",
    )
    redis_wait_replicas: str = Field(
        default="auto",
        description="replicas that must acknowledge the claim and posting mark before a "
        "POST: auto (every connected replica; none connected = no wait), 0 = off, or N",
    )
    redis_wait_timeout_ms: int = Field(
        default=500, ge=1, le=60_000,
        description="no acknowledgement within this: the attempt is not POSTed, it waits",
    )
    scheduler_lease_s: float = Field(
        default=6.0, gt=0, le=300,
        description="the scheduler leader's lease; a standby takes over within about this "
        "plus a third of it",
    )

    # --- Exotel accounts -------------------------------------------------------------
    accounts: list[AccountSettings] = Field(
        default_factory=list,
        description="JSON list of accounts: name, sid, api_key, api_token, region|base_url, "
        "caller_id",
    )

    # --- the account limit -----------------------------------------------------------
    rate_limit_calls: int = Field(
        default=200, gt=0, le=100_000, description="Exotel's limit: calls per window"
    )
    rate_limit_window_s: float = Field(
        default=60.0, gt=0, le=3600, description="the limit's sliding window"
    )
    rate_limit_margin_calls: int = Field(
        default=5, ge=0, description="admitted = rate_limit_calls - margin (195 by default)"
    )
    lookup_max_share: float = Field(
        default=0.5, ge=0, le=1,
        description="share of the admitted requests per window that GETs (polls, look-ups) "
        "may use; dials use the rest and whatever GETs leave",
    )
    lookup_reserve_share: float = Field(
        default=0.1, ge=0, le=1,
        description="share of the admitted requests dials leave to GETs that were denied",
    )

    # --- retries ---------------------------------------------------------------------
    max_retries: int = Field(
        default=3, ge=0, le=20, description="retries after a first-leg failed/no-answer"
    )
    retry_on_busy: bool = Field(default=False, description="retry a first-leg 'busy' too")
    retry_on_leg2_failure: bool = Field(
        default=False, description="retry when the second leg failed or was not answered"
    )
    retry_backoff_base_s: float = Field(
        default=30.0, ge=0, le=86_400, description="first retry delay; doubles each retry"
    )
    retry_backoff_max_s: float = Field(
        default=600.0, ge=0, le=86_400, description="cap of the retry delay"
    )
    retry_jitter_ratio: float = Field(
        default=0.2, ge=0, le=1, description="± share of random jitter on the retry delay"
    )
    agent_max_concurrent_calls: int = Field(
        default=1, ge=1, le=1000, description="calls one From number (agent) may be in at once"
    )
    agent_hold_s: float = Field(
        default=900.0, gt=0, description="an agent is freed at the latest this long after dialing"
    )
    agent_busy_wait_s: float = Field(
        default=5.0, gt=0, description="a call whose agent is busy is tried again after this"
    )

    # --- Exotel HTTP -----------------------------------------------------------------
    http_connect_timeout_s: float = Field(
        default=3.05, gt=0, le=60, description="connect timeout of every Exotel request"
    )
    http_read_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="read timeout; a POST that times out here has an unknown outcome",
    )

    # --- timing of the pipeline ------------------------------------------------------
    dialing_timeout_s: float = Field(
        default=120.0, gt=0, description="an attempt stuck in 'dialing' longer becomes unknown"
    )
    pending_redeliver_s: float = Field(
        default=300.0, gt=0, description="a pending attempt older than this is re-enqueued"
    )
    pump_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="beat period of the due-set pump"
    )
    pump_batch: int = Field(
        default=500, ge=1, le=100_000, description="attempts the pump moves per run at most"
    )
    queue_high_water: int = Field(
        default=1000, ge=1, description="the pump waits while the calls queue is this long"
    )
    transport_retry_base_s: float = Field(
        default=2.0, gt=0, description="wait after Exotel could not be reached (doubles, ≤ 5 min)"
    )
    poll_after_s: float = Field(
        default=180.0, gt=0, description="poll a placed call without a final callback after this"
    )
    poll_interval_s: float = Field(
        default=60.0, gt=0, description="then poll it again this often until it is final"
    )
    agent_poll_after_s: float = Field(
        default=10.0, gt=0,
        description="an agent-mode call (connect, v3) without a final callback is looked up "
        "this soon after placement (a look-up only while the account's window is less than "
        "half full) …",
    )
    agent_poll_interval_s: float = Field(
        default=15.0, gt=0,
        description="… and again this often, besides the regular polls: an agent whose "
        "callback was lost waits seconds, not minutes",
    )
    campaign_tick_s: float = Field(
        default=2.0, gt=0, le=60, description="beat period of the campaign tick"
    )
    campaign_handoff: bool = Field(
        default=True,
        description="an agent-mode campaign call's end hands its agent the next contact at "
        "once, without waiting for the tick",
    )
    campaign_share: float = Field(
        default=0.8, gt=0, le=1,
        description="share of an account's limit campaigns may use (the rest: single calls)",
    )
    campaign_clock_offset_s: float = Field(
        default=0.0, description="shifts the campaigns' clock (windows, start/end); tests, demos"
    )
    fill_poll_after_s: float = Field(
        default=150.0, gt=0,
        description="a call that ended without Duration/Price is polled once more after this",
    )
    poll_tick_s: float = Field(default=5.0, gt=0, le=600, description="beat period of the poller")
    subscribe_callback_events: bool = Field(
        default=True,
        description="v1 requests subscribe StatusCallbackEvents=terminal, so the callback "
        "carries the legs' statuses",
    )
    evidence_delay_s: float = Field(
        default=5.0, ge=0,
        description="an ended call whose callback had no leg statuses is looked up after this",
    )
    evidence_interval_s: float = Field(
        default=30.0, gt=0, description="then looked up again this often while none come"
    )
    evidence_deadline_s: float = Field(
        default=900.0, gt=0,
        description="no leg evidence this long after the end: the call is not retried",
    )
    unknown_deadline_s: float = Field(
        default=3600.0, gt=0,
        description="unknown attempts are looked up this long (the horizon), then reported",
    )
    unknown_match_window_s: float = Field(
        default=120.0, gt=0,
        description="an unknown attempt matches a listed call created this close to its POST",
    )
    dnd_to_dnc: bool = Field(
        default=True,
        description="a number Exotel refuses as DND/NDNC (403) joins the global do-not-call "
        "list",
    )
    redial_proven_absent: bool = Field(
        default=False,
        description="dial again an unknown attempt that Exotel still does not list at the "
        "horizon (its call was never created)",
    )
    sweep_interval_s: float = Field(default=30.0, gt=0, description="beat period of the sweeper")
    task_visibility_timeout_s: int = Field(
        default=3600, ge=60, description="Redis broker visibility timeout (> any task)"
    )

    # --- callbacks and the HTTP API --------------------------------------------------
    public_base_url: AnyHttpUrl | None = Field(
        default=None, description="where Exotel reaches our callback endpoint"
    )
    callback_secret: SecretStr = Field(
        default=SecretStr(""), description="HMAC key of the per-attempt callback tokens"
    )
    api_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token of the HTTP API"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        from dialer.redis_conn import validate_url

        v = validate_url(v)
        if v.startswith(("redis://", "rediss://")):
            try:
                port = urlsplit(v).port
            except ValueError:
                raise ValueError("the port must be a number from 1 to 65535") from None
            if port == 0:
                raise ValueError("the port must be a number from 1 to 65535")
        if re.search(r"[?&]password=", v, re.IGNORECASE):
            raise ValueError("put the password in the user info (redis://:PASSWORD@host), "
                             "not in ?password= (Celery's broker cannot read it there)")
        return v

    @field_validator("redis_wait_replicas")
    @classmethod
    def _wait_replicas(cls, v: str) -> str:
        v = str(v).strip().lower()
        if v != "auto" and not (v.isdigit() and int(v) <= 16):
            raise ValueError("must be auto or a number of replicas from 0 to 16")
        return v

    @field_serializer("redis_url")
    def _dump_redis_url(self, v: str) -> str:
        return redact_url(v) if v else v  # model_dump() / JSON never hold the password

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts_not_null(cls, v: Any) -> Any:
        return [] if v is None or v == "" else v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.rate_limit_margin_calls >= self.rate_limit_calls:
            raise ValueError("rate_limit_margin_calls must be smaller than rate_limit_calls")
        if self.retry_backoff_max_s < self.retry_backoff_base_s:
            raise ValueError("retry_backoff_max_s must be >= retry_backoff_base_s")
        if self.public_base_url is not None and not self.callback_secret.get_secret_value():
            raise ValueError(
                "DIALER_CALLBACK_SECRET must be set when DIALER_PUBLIC_BASE_URL is set "
                "(it signs the callback URLs)"
            )
        names = [a.name for a in self.accounts]
        if len(names) != len(set(names)):
            raise ValueError(f"account names must be unique, got {names}")
        return self

    @property
    def rate_limit_admitted(self) -> int:
        """Requests admitted per window: the limit less the safety margin."""
        return self.rate_limit_calls - self.rate_limit_margin_calls

    @property
    def lookup_max(self) -> int:
        """GETs admitted per window at most."""
        return int(self.rate_limit_admitted * self.lookup_max_share)

    @property
    def lookup_reserve(self) -> int:
        """Slots per window dials leave to GETs that were denied."""
        return min(self.lookup_max, int(self.rate_limit_admitted * self.lookup_reserve_share))

    def account(self, name: str) -> AccountSettings:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        raise SettingsError(
            f"unknown account {name!r}; configured: {[a.name for a in self.accounts]}"
        )


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


def _describe(err: dict[str, Any]) -> str:
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


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Settings from a ``DIALER_*`` mapping (the environment handed to a child process)."""
    values: dict[str, Any] = {k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
                              if k.startswith(ENV_PREFIX)}
    if "accounts" in values:
        try:
            values["accounts"] = json.loads(values["accounts"])
        except ValueError as exc:
            raise SettingsError(f"invalid settings:\n  DIALER_ACCOUNTS: not valid JSON ({exc})"
                                ) from None
    return load_settings(**values)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and ``.env``; raise :class:`SettingsError`.

    ``overrides`` (field name → value) win over the environment; tests and the CLI use them.
    """
    try:
        return Settings(**overrides)
    except PydanticSettingsError as exc:  # e.g. DIALER_ACCOUNTS is not valid JSON
        match = re.search(r'field "(\w+)"', str(exc))
        var = ENV_PREFIX + match.group(1).upper() if match else "a DIALER_* variable"
        raise SettingsError(f"invalid settings:\n  {var}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]  # type: ignore[arg-type]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
