"""What the HTTP API answers and takes, as models OpenAPI documents (``/openapi.json``).

One error body for every refusal (401, 403, 404, 409, 413, 422, 503): ``{"detail": …}``,
a message, or for a malformed body a list of ``{loc, msg, type}``. The campaign routes read
their bodies by hand (caps, NaN refused, CSV or JSON), so their request bodies are
declared here and referenced from the schema (:mod:`dialer.openapi`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dialer.campaigns.models import CampaignSpec, CampaignState
from dialer.models import Mode


class ErrorItem(BaseModel):
    """One problem of a malformed request (never echoing the input)."""

    loc: list[str] = Field(description="where: e.g. ['body', 'from']")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every refusal: a message, or the problems of a malformed request."""

    detail: str | list[ErrorItem]
    errors_omitted: int | None = Field(default=None,
                                       description="problems past the first 20, not listed")


ERROR_DESCRIPTIONS = {
    400: "malformed callback",
    401: "missing or wrong bearer token",
    403: "missing or forged callback token",
    404: "no such call or campaign",
    409: "not allowed in the campaign's state",
    413: "body too large",
    422: "invalid input, naming the field",
    503: "Redis unavailable; try again after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with :class:`ErrorBody` as JSON (also on a
    route whose success is not JSON, e.g. ``report.csv``)."""
    return {code: error_response(code) for code in codes}


def error_response(code: int) -> dict[str, Any]:
    return {"description": ERROR_DESCRIPTIONS[code], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


class CallAccepted(BaseModel):
    call_id: str = Field(description="24 hex characters (the first call's, for a known "
                         "idempotency key)")


class CallsAccepted(BaseModel):
    call_ids: list[str] = Field(description="in the order of the requests")


class CallbackAccepted(BaseModel):
    accepted: bool


class Health(BaseModel):
    redis: str = Field(description="ok, or why not")


class ContactIn(BaseModel):
    """One contact of a JSON import; other scalar keys are kept as the contact's fields."""

    model_config = ConfigDict(extra="allow")

    number: str = Field(description="E.164 or an Indian local format")
    name: str | None = None
    timezone: str | None = Field(default=None, description="IANA; default: the number's")
    custom_field: str | None = None


class CampaignCreate(CampaignSpec):
    """A campaign spec, with optional inline contacts and whether to schedule it at once."""

    contacts: list[ContactIn] | None = Field(default=None, description="imported at once")
    start: bool = Field(default=False, description="schedule it at once (else a draft)")


class ContactsIn(BaseModel):
    contacts: list[ContactIn]


class ImportProblem(BaseModel):
    line: int
    reason: str
    number: str
    kind: str = Field(description="invalid | duplicate | suppressed")


class ImportReportView(BaseModel):
    rows: int
    imported: int
    duplicates: int
    suppressed: int = Field(description="on a do-not-call list")
    invalid: int
    problems: list[ImportProblem] = Field(description="the first 1000 rows not imported")
    problems_truncated: bool


class CampaignCreated(BaseModel):
    id: str
    state: CampaignState
    import_: ImportReportView | None = Field(default=None, alias="import",
                                             description="when contacts were given")

    model_config = ConfigDict(populate_by_name=True)


class CampaignStateView(BaseModel):
    id: str
    state: CampaignState


class CampaignListItem(BaseModel):
    id: str
    name: str
    state: CampaignState
    account: str | None
    mode: Mode
    contacts: int
    template_id: str | None
    recurrence: str | None
    created_at: str | None = Field(description="ISO 8601 with its offset")


class CampaignSummary(BaseModel):
    """Counts by status, attempts, answered rate, average talk time, progress, and why
    nothing is dialling when nothing is."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    state: CampaignState
    account: str | None
    mode: Mode
    template_id: str | None = Field(description="the template it was copied from")
    recurrence: str | None = Field(description="cron: a template")
    runs: int | None = Field(description="copies a template has run")
    next_run_at: str | None = Field(description="a template's next run (ISO 8601)")
    start_at: str | None
    end_at: str | None
    window: str = Field(description="HH:MM-HH:MM days")
    timezone: str
    calls_per_minute: float
    max_concurrent: int
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    contacts: int
    pending: int = Field(description="contacts not dialled yet")
    live: int = Field(description="calls not final yet")
    finished: int = Field(description="contacts whose call is final")
    not_dialled: int
    done: int = Field(description="finished + not dialled")
    progress: float = Field(description="done / contacts, 0..1")
    by_status: dict[str, int] = Field(description="finished contacts by final status")
    attempts: int
    answered_rate: float | None
    avg_talk_s: float | None
    duplicates: int
    suppressed: int
    suppressed_at_dial: int
    invalid_rows: int
    invalid: int
    expired: int
    cancelled_before_dial: int
    idle_reasons: list[str] = Field(default_factory=list,
                                    description="why nothing is dialling (empty while it "
                                    "dials)")


class DncNumbers(BaseModel):
    numbers: list[str] = Field(min_length=1, description="E.164 or Indian local formats")


class DncAdded(BaseModel):
    added: int = Field(description="numbers not on the list before")


class DncRemoved(BaseModel):
    removed: int


class DncList(BaseModel):
    numbers: list[str]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (CampaignCreate, ContactsIn, DncNumbers)
