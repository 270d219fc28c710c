"""What a campaign is: its spec (who calls whom, when, how fast) and its lifecycle states.

    draft → scheduled → running ⇄ paused → completed | cancelled

``draft`` takes contacts; ``start`` schedules it; the tick runs it at ``start_at`` and
completes it once every contact's call is final (or ``end_at`` passed). A spec with a
``recurrence`` is a template: the tick never dials it, it schedules a copy each time the
cron expression fires.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dialer.campaigns.pacing import max_calls_per_minute
from dialer.campaigns.schedule import Cron, Window, parse_days, parse_hhmm, zone
from dialer.errors import ConflictError, InvalidNumberError, ValidationError
from dialer.models import Mode
from dialer.phone import normalize
from dialer.producer import CallRequest, validate
from dialer.settings import Settings
from dialer.store import NewCall

SAMPLE_CUSTOMER = "+919876543210"  # a valid number to validate the call template with


class CampaignState(StrEnum):
    DRAFT = "draft"  # being set up; takes contacts, dials nobody
    SCHEDULED = "scheduled"  # waits for start_at (a template: for its next run)
    RUNNING = "running"  # the tick feeds its calls
    PAUSED = "paused"  # no new dials; queued attempts wait
    COMPLETED = "completed"  # every contact's call is final (or end_at passed)
    CANCELLED = "cancelled"  # stopped for good; nothing pending


FINAL_STATES = frozenset({CampaignState.COMPLETED, CampaignState.CANCELLED})


class CampaignStateError(ConflictError):
    """An action the campaign's current state does not allow (HTTP 409)."""


class ScheduleSpec(BaseModel):
    """When to call. Times without a zone are read in ``timezone``."""

    model_config = ConfigDict(extra="forbid")

    start_at: datetime | None = Field(default=None, description="default: when started")
    end_at: datetime | None = Field(default=None, description="no new dials after this")
    days: str = Field(default="mon-sun", description="e.g. mon-fri, mon,wed,sat, weekdays")
    window_start: str = Field(default="09:00", description="HH:MM in the contact's zone")
    window_end: str = Field(default="21:00", description="HH:MM; before start = past midnight")
    timezone: str = Field(default="Asia/Kolkata", description="contacts without their own")
    zone_from_number: bool = Field(
        default=True, description="a contact without a zone gets its number's, when unambiguous"
    )
    recurrence: str | None = Field(
        default=None, description="cron (e.g. '0 10 * * mon-fri'): a template run each time"
    )

    @field_validator("days")
    @classmethod
    def _days(cls, v: str) -> str:
        parse_days(v)
        return v

    @field_validator("window_start", "window_end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        zone(v)
        return v

    @field_validator("recurrence")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return Cron.parse(v).text if v else None

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleSpec:
        z = zone(self.timezone)
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=z))
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        self.window()
        return self

    def window(self) -> Window:
        return Window.parse(self.window_start, self.window_end, self.days)


class PacingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calls_per_minute: float = Field(default=60.0, gt=0, le=1_000_000)
    max_concurrent: int = Field(default=10, ge=1, le=100_000,
                                description="calls of this campaign not yet final, at most")


class RetrySpec(BaseModel):
    """Overrides of the dialer's retry policy (unset: the settings' value)."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int | None = Field(default=None, ge=0, le=20)
    retry_on_busy: bool | None = None
    retry_on_leg2_failure: bool | None = None
    backoff_base_s: float | None = Field(default=None, ge=0, le=86_400)
    backoff_max_s: float | None = Field(default=None, ge=0, le=86_400)
    jitter_ratio: float | None = Field(default=None, ge=0, le=1)

    def policy(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CapSpec(BaseModel):
    """This campaign's cap on attempts per customer number, counted across every source
    (other campaigns, single calls); the account's cap (settings) applies as well."""

    model_config = ConfigDict(extra="forbid")

    attempts: int | None = Field(default=None, ge=1, le=1000,
                                 description="dial attempts per number per period; unset: "
                                 "only the account's cap")
    period: Literal["day", "week", "rolling-24h"] = Field(
        default="day", description="day or week in the number's zone, or any 24 hours")
    when_capped: Literal["wait", "end"] | None = Field(
        default=None, description="wait for the next period, or end the contact 'capped'; "
        "unset: DIALER_CONTACT_CAP_CAMPAIGN")

    def policy(self) -> dict[str, Any]:
        """What the campaign's calls carry (their ``policy``'s ``cap``)."""
        out = self.model_dump(exclude_none=True)
        return {"cap": out} if self.attempts or self.when_capped else {}


class CampaignSpec(BaseModel):
    """Everything about a campaign except its contacts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    account: str | None = Field(default=None, description="default: the first account")
    mode: Mode = Field(default=Mode.FLOW, description="flow | connect | v3")
    caller_id: str | None = Field(default=None, max_length=64)
    app_id: str | None = Field(default=None, max_length=32, description="call flow (flow)")
    agents: list[str] = Field(default_factory=list, max_length=10_000,
                              description="agent numbers (connect, v3): one call each")
    params: dict[str, Any] = Field(default_factory=dict, description="other Exotel params")
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    pacing: PacingSpec = Field(default_factory=PacingSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    caps: CapSpec = Field(default_factory=CapSpec)


def check_spec(spec: CampaignSpec, settings: Settings) -> CampaignSpec:
    """Validate ``spec`` against the settings; return it normalised (account, agents).

    Raises ``ValidationError`` naming the bad field.
    """
    limit = max_calls_per_minute(settings.rate_limit_admitted, settings.rate_limit_window_s,
                                 settings.campaign_share)
    if spec.pacing.calls_per_minute > limit + 1e-9:
        raise ValidationError(
            f"pacing.calls_per_minute: {spec.pacing.calls_per_minute:g} is above the account's "
            f"campaign share ({limit:g} per minute)", field="pacing")
    agents: list[str] = []
    for i, a in enumerate(spec.agents):
        try:
            agents.append(normalize(a, field=f"agents[{i}]", allow_sip=spec.mode is Mode.V3))
        except InvalidNumberError as exc:
            raise ValidationError(str(exc), field="agents") from None
    if spec.mode is Mode.FLOW and agents:
        raise ValidationError("agents: not used in mode 'flow' (the flow decides)",
                              field="agents")
    if spec.mode is not Mode.FLOW and not agents:
        raise ValidationError(f"agents: at least one agent number in mode {spec.mode.value!r}",
                              field="agents")
    if len(set(agents)) != len(agents):
        raise ValidationError("agents: the same number is listed twice", field="agents")
    out = spec.model_copy(update={"agents": agents})
    new = call_for(out, settings, SAMPLE_CUSTOMER, agents[0] if agents else None)
    return out.model_copy(update={"account": new.account})


def call_for(spec: CampaignSpec, settings: Settings, number: str, agent: str | None,
             custom_field: str = "", metadata: dict[str, Any] | None = None,
             idem_key: str | None = None, campaign_id: str = "") -> NewCall:
    """The call of one contact, validated exactly like a single call."""
    if spec.mode is Mode.FLOW:
        parts: dict[str, Any] = {"from": number, "app_id": spec.app_id}
    else:
        parts = {"from": agent, "to": number}
    try:
        req = CallRequest.model_validate({
            "account": spec.account, "mode": spec.mode.value, "caller_id": spec.caller_id,
            "params": spec.params, "custom_field": custom_field or None,
            "metadata": metadata or {}, "idempotency_key": idem_key, **parts,
        })
    except ValueError as exc:
        raise ValidationError(f"invalid call: {exc}") from None
    new = validate(req, settings)
    return new._replace(campaign_id=campaign_id,
                        policy={**spec.retry.policy(), **spec.caps.policy()})


def spec_json(spec: CampaignSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), separators=(",", ":"))


def ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value else 0


def from_ms(value: int | str | None) -> datetime | None:
    v = int(value or 0)
    return datetime.fromtimestamp(v / 1000, UTC) if v else None
