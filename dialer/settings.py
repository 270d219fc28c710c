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
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from dialer.account import AccountSettings
from dialer.errors import SettingsError
from dialer.redact import redact_url
from dialer.redis_conn import validate_url
from dialer.settings_errors import ENV_PREFIX, describe_error


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
    # --- contact protection (dialer/caps.py) ------------------------------------------
    contact_cap_attempts: int = Field(
        default=0, ge=0, le=1000,
        description="dial attempts per customer number per period, counted across every "
        "source (campaigns, single calls); 0 = no account cap",
    )
    contact_cap_period: Literal["day", "week", "rolling-24h"] = Field(
        default="day",
        description="the cap's period: day or week in the number's time zone, or any 24 h",
    )
    contact_cap_timezone: str = Field(
        default="Asia/Kolkata",
        description="zone of numbers whose own zone is not known (caps, quiet hours)",
    )
    contact_cap_single: Literal["refuse", "wait"] = Field(
        default="refuse",
        description="a single call whose number is capped: refused (at enqueue: HTTP 409; "
        "at dial time: ends capped) or waits until the cap resets",
    )
    contact_cap_campaign: Literal["wait", "end"] = Field(
        default="wait",
        description="a campaign contact whose number is capped: waits for the next period "
        "or ends capped (a campaign's spec may say otherwise)",
    )
    contact_counting: bool = Field(
        default=True,
        description="count every dial attempt per number (one Redis script per POST), so a "
        "campaign's cap sees single calls too; off: only attempts under a cap are counted",
    )
    single_call_hours: str = Field(
        default="",
        description="HH:MM-HH:MM in the customer's zone (e.g. 09:00-21:00, TRAI): single "
        "calls outside it wait until it opens; empty = any time",
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

    @field_validator("contact_cap_timezone")
    @classmethod
    def _cap_zone(cls, v: str) -> str:
        from dialer.campaigns.schedule import zone

        zone(v)
        return v

    @field_validator("single_call_hours")
    @classmethod
    def _single_hours(cls, v: str) -> str:
        v = v.strip()
        if not v:
            return v
        from dialer.campaigns.schedule import Window

        start, found, end = v.partition("-")
        if not found:
            raise ValueError("expected HH:MM-HH:MM, e.g. 09:00-21:00")
        Window.parse(start.strip(), end.strip())
        return f"{start.strip()}-{end.strip()}"

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
        lines = [describe_error(e) for e in exc.errors(include_url=False)]  # type: ignore[arg-type]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
