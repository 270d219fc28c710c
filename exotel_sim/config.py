"""SimConfig: accounts, the account limit, simulated timings, outcome odds and fault switches.

Simulated durations (``dial_delay_s``, ``ring_s``, ``busy_s``, ``failed_s``,
``ring_timeout_s``, ``talk_s``, ``duration_fill_delay_s``, and a request's TimeLimit /
TimeOut) are multiplied by ``time_scale``. The limiter window, ``latency_s`` and the
callback delays are real wall-clock seconds and are never scaled.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OUTCOMES = ("answered", "busy", "no-answer", "failed")

# v3 error codes of seed 002 that can be switched on as faults, per endpoint
V3_FAULT_CODES: dict[str, tuple[int, ...]] = {
    "create": (1012, 10705, 10703, 10706, 10712, 10731, 10806, 10702),
    "details": (1021, 1022),
    "legs": (10743, 10715, 10724),
}

DEFAULT_SID = "AC_SIM"
DEFAULT_KEY = "sim_key"
DEFAULT_TOKEN = "sim_token"


class Account(BaseModel):
    """One account's credentials; the token is a secret and never shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: str = Field(min_length=1)
    api_token: SecretStr


def parse_account(text: str) -> tuple[str, Account]:
    """``SID:API_KEY:API_TOKEN`` -> (sid, Account)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError("expected SID:API_KEY:API_TOKEN")
    return parts[0], Account(api_key=parts[1], api_token=SecretStr(parts[2]))


def _default_accounts() -> dict[str, Account]:
    return {DEFAULT_SID: Account(api_key=DEFAULT_KEY, api_token=SecretStr(DEFAULT_TOKEN))}


def check_odds(odds: dict[str, float] | None) -> dict[str, float] | None:
    """Validate an outcome -> weight mapping (weights need not sum to 1)."""
    if odds is None:
        return None
    unknown = sorted(set(odds) - set(OUTCOMES))
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; use {list(OUTCOMES)}")
    if any(weight < 0 for weight in odds.values()):
        raise ValueError("outcome weights must be >= 0")
    if sum(odds.values()) <= 0:
        raise ValueError("outcome weights must not all be 0")
    return dict(odds)


class SimConfig(BaseModel):
    """Everything the simulator does; every field can be changed at run time."""

    model_config = ConfigDict(extra="forbid")

    accounts: dict[str, Account] = Field(default_factory=_default_accounts, min_length=1)
    virtual_numbers: list[str] = Field(default_factory=list)  # empty: any CallerId
    limit_calls: int = Field(default=200, ge=1)  # Voice API requests per account per window
    limit_window_s: float = Field(default=60.0, gt=0)
    # "all": every Voice API request counts (call POSTs, v1 details, bulk, v3 details, legs);
    # "posts": only call-creating POSTs count (the simulator's old behaviour)
    limit_scope: Literal["all", "posts"] = "all"
    time_scale: float = Field(default=1.0, gt=0)
    seed: int | None = None
    utc_offset_minutes: int = 330  # timestamps are shown in IST, like Exotel India

    dial_delay_s: float = Field(default=1.0, ge=0)  # queued -> leg 1 ringing
    ring_s: float = Field(default=5.0, ge=0)  # ringing before an answer
    busy_s: float = Field(default=3.0, ge=0)  # ringing before "busy"
    failed_s: float = Field(default=1.0, ge=0)  # before "failed"
    ring_timeout_s: float = Field(default=30.0, gt=0)  # TimeOut when the request has none
    talk_s: float = Field(default=30.0, ge=0)  # conversation (or flow) length
    duration_fill_delay_s: float = Field(default=120.0, ge=0)
    price_per_minute: float = Field(default=0.5, ge=0)

    outcomes: dict[str, float] = Field(default_factory=lambda: {"answered": 1.0})
    leg1_outcomes: dict[str, float] | None = None  # None: use ``outcomes``
    leg2_outcomes: dict[str, float] | None = None

    error_5xx_ratio: float = Field(default=0.0, ge=0, le=1)
    latency_s: float = Field(default=0.0, ge=0)
    accept_then_drop_ratio: float = Field(default=0.0, ge=0, le=1)
    callback_drop_ratio: float = Field(default=0.0, ge=0, le=1)
    callback_duplicate_ratio: float = Field(default=0.0, ge=0, le=1)
    callback_delay_s: float = Field(default=0.0, ge=0)
    callback_reorder: bool = False
    callback_reorder_window_s: float = Field(default=1.0, ge=0)
    callback_timeout_s: float = Field(default=15.0, gt=0)  # a 2xx is expected within this
    callback_retries: int = Field(default=2, ge=0, le=10)  # more tries after a failed one
    callback_retry_delay_s: float = Field(default=2.0, ge=0)  # real seconds between tries
    # v1: send the extended payload (EventType, Legs, CustomField…) even to requests that
    # did not subscribe with StatusCallbackEvents (the simulator's old behaviour)
    v1_callback_always_extended: bool = False

    dnd_check: bool = True  # refuse calls to DND (NDNC registry) numbers with 403
    dnd_numbers: list[str] = Field(default_factory=list)  # besides numbers ending in 94
    voip_enabled: bool = False  # v3: a sip: contact_uri is refused (405/10712) unless set
    # v3 faults: endpoint ("create", "details", "legs") -> error code of seed 002
    v3_faults: dict[str, int] = Field(default_factory=dict)
    callback_workers: int = Field(default=4, ge=1, le=64)  # read once, at start()

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: Any) -> Any:
        """Also accept ``{sid: (key, token)}`` and ``{sid: "key:token"}``."""
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for sid, acc in value.items():
            if isinstance(acc, str) and ":" in acc:
                acc = tuple(acc.split(":", 1))
            if isinstance(acc, tuple | list) and len(acc) == 2:
                acc = {"api_key": acc[0], "api_token": acc[1]}
            out[sid] = acc
        return out

    @field_validator("v3_faults")
    @classmethod
    def _v3_faults(cls, value: dict[str, int]) -> dict[str, int]:
        for endpoint, code in value.items():
            allowed = V3_FAULT_CODES.get(endpoint)
            if allowed is None:
                raise ValueError(f"unknown v3 endpoint {endpoint!r}; use {list(V3_FAULT_CODES)}")
            if code not in allowed:
                raise ValueError(f"v3 {endpoint} fault must be one of {list(allowed)}")
        return dict(value)

    @field_validator("outcomes", "leg1_outcomes", "leg2_outcomes")
    @classmethod
    def _odds(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return check_odds(value)

    def updated(self, **changes: Any) -> SimConfig:
        """A validated copy with ``changes`` applied (unknown names raise)."""
        data = self.model_dump()
        data.update(changes)
        return SimConfig.model_validate(data)

    def public(self) -> dict[str, Any]:
        """JSON-ready view with every token masked."""
        return self.model_dump(mode="json")
