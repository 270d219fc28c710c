"""``/v1/campaigns…`` over HTTP, behind the API's bearer token (``settings.api_token``).

* ``POST /v1/campaigns`` — a campaign spec; optional ``contacts`` (JSON list) and
  ``start`` (bool) beside it → 201 ``{id, state, import}``
* ``POST /v1/campaigns/{id}/contacts`` — CSV (``text/csv``) or JSON → the import report
* ``GET /v1/campaigns`` · ``GET /v1/campaigns/{id}`` (counts, progress)
* ``POST /v1/campaigns/{id}/start|pause|resume|cancel``
* ``GET /v1/campaigns/{id}/report.csv`` — one row per contact, every attempt's outcome
* ``POST /v1/campaigns/{id}/dnc`` · ``POST /v1/dnc`` — ``{"numbers": [...]}`` (add);
  ``GET`` lists, ``DELETE`` (same body) removes
* ``GET /v1/campaigns/{id}/plan`` — expected attempts, calls per window and day, the
  finish with a range and what bounds it (``?answered=&busy=&no_answer=&failed=&call_s=``;
  default: the account's recent history)

Errors: 401 token, 404 unknown campaign, 409 not allowed in the campaign's state,
413 body too large, 422 invalid input — each with the one error body
(:class:`dialer.api_models.ErrorBody`). Bodies are read by hand (caps, NaN refused); their
schemas are declared with ``openapi_extra`` (:mod:`dialer.openapi`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import redis
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from dialer.api_models import (
    CampaignCreated,
    CampaignListItem,
    CampaignStateView,
    CampaignSummary,
    DncAdded,
    DncList,
    DncRemoved,
    ImportReportView,
    errors,
)
from dialer.campaigns.idle import with_idle_reasons
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.plan_state import PlanView, campaign_plan, rates_from
from dialer.campaigns.repo import describe
from dialer.campaigns.report import contact_rows, csv_chunks
from dialer.errors import ValidationError
from dialer.http_auth import bearer_token_check
from dialer.http_guard import MAX_IMPORT_BYTES, MAX_SPEC_BYTES, read_capped
from dialer.openapi import contacts_body, json_body
from dialer.phone import normalize
from dialer.settings import Settings

T = TypeVar("T")
ACTIONS = ("start", "pause", "resume", "cancel")


class CSVResponse(StreamingResponse):
    media_type = "text/csv"


async def _run(fn: Callable[..., T], *args: Any) -> T:
    """``fn`` off the event loop; its refusals become HTTP answers in one place
    (:data:`dialer.http_guard.DIALER_ERROR_STATUS`)."""
    return await run_in_threadpool(fn, *args)


async def _json(request: Request, cap: int) -> Any:
    try:
        return json.loads(await read_capped(request, cap) or b"null",
                          parse_constant=_not_json)
    except ValueError as exc:
        raise HTTPException(422, f"body is not valid JSON: {exc}") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _numbers(data: Any) -> list[str]:
    items = data.get("numbers") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError('expected {"numbers": ["+91…", …]}', field="numbers")
    return [normalize(str(n), field=f"numbers[{i}]") for i, n in enumerate(items)]


def _create(life: Lifecycle, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object (a campaign spec)", field="campaign")
    contacts, start = data.pop("contacts", None), data.pop("start", False)
    if not isinstance(start, bool):
        raise ValidationError("start: expected true or false", field="start")
    raw = None if contacts is None else json.dumps(contacts, allow_nan=False).encode()
    cid, report = life.create_with_contacts(data, raw, "json", start=start)
    out: dict[str, Any] = {"id": cid}
    if report is not None:
        out["import"] = report.to_dict()
    out["state"] = life.repo.get(cid).state.value
    return out


def campaign_router(settings: Settings, client: redis.Redis) -> APIRouter:
    """The campaign endpoints, from explicit settings and a Redis client."""
    life = Lifecycle.connect(client, settings)
    router = APIRouter(prefix="/v1", tags=["campaigns"],
                       dependencies=[Depends(bearer_token_check(settings.api_token.get_secret_value()))])
    create = functools.partial(_create, life)

    @router.post("/campaigns", status_code=201, response_model=CampaignCreated,
                 response_model_by_alias=True, responses=errors(413, 422),
                 openapi_extra=json_body("CampaignCreate", "a campaign spec"))
    async def create_campaign(request: Request) -> dict[str, Any]:
        """Create a campaign (draft; ``"start": true`` schedules it at once)."""
        return await _run(create, await _json(request, MAX_SPEC_BYTES))

    @router.post("/campaigns/{cid}/contacts", response_model=ImportReportView,
                 responses=errors(404, 409, 413, 422), openapi_extra=contacts_body())
    async def import_contacts(cid: str, request: Request) -> dict[str, Any]:
        """Import CSV (``Content-Type: text/csv``) or JSON contacts; bad rows are reported."""
        body = await read_capped(request, MAX_IMPORT_BYTES)
        fmt = "json" if "json" in request.headers.get("content-type", "") else "csv"
        report = await _run(life.import_contacts, cid, body, fmt)
        return report.to_dict()

    @router.get("/campaigns", response_model=list[CampaignListItem])
    async def list_campaigns() -> list[dict[str, Any]]:
        """Every campaign, newest first."""
        return [describe(c) for c in await _run(life.repo.list_all)]

    @router.get("/campaigns/{cid}", response_model=CampaignSummary, responses=errors(404))
    async def get_campaign(cid: str) -> dict[str, Any]:
        """Counts by status, attempts, answered rate, average talk time, progress, and
        why nothing is dialling (``idle_reasons``)."""
        return await _run(with_idle_reasons, life, cid)

    @router.get("/campaigns/{cid}/dnc", response_model=DncList, responses=errors(404))
    async def campaign_dnc_list(cid: str) -> dict[str, Any]:
        """The campaign's do-not-call numbers."""
        return {"numbers": await _run(life.repo.dnc_numbers, cid)}

    @router.post("/campaigns/{cid}/dnc", response_model=DncAdded, responses=errors(404, 422),
                 openapi_extra=json_body("DncNumbers"))
    async def campaign_dnc_add(cid: str, request: Request) -> dict[str, int]:
        """Add numbers to the campaign's do-not-call list."""
        numbers = await _run(_numbers, await _json(request, MAX_SPEC_BYTES))
        return {"added": await _run(life.repo.add_dnc, numbers, cid)}

    @router.delete("/campaigns/{cid}/dnc", response_model=DncRemoved,
                   responses=errors(404, 422), openapi_extra=json_body("DncNumbers"))
    async def campaign_dnc_remove(cid: str, request: Request) -> dict[str, int]:
        """Remove numbers from the campaign's do-not-call list."""
        numbers = await _run(_numbers, await _json(request, MAX_SPEC_BYTES))
        return {"removed": await _run(life.repo.remove_dnc, numbers, cid)}

    @router.post("/campaigns/{cid}/{action}", response_model=CampaignStateView,
                 responses=errors(404, 409))
    async def campaign_action(cid: str, action: Annotated[str, Path(
            description="start | pause | resume | cancel",
            json_schema_extra={"enum": list(ACTIONS)})]) -> dict[str, Any]:
        """start | pause | resume | cancel."""
        actions = {"start": life.start, "pause": life.pause, "resume": life.resume,
                   "cancel": life.cancel}
        if action not in actions:
            raise HTTPException(404, f"unknown action {action!r}; use {sorted(actions)}")
        state = await _run(actions[action], cid)
        return {"id": cid, "state": state.value}

    _plan_route(router, life)

    @router.get("/campaigns/{cid}/report.csv", response_class=CSVResponse,
                responses={200: {"description": "one row per contact",
                                 "content": {"text/csv": {"schema": {"type": "string"}}}},
                           **errors(404)})
    async def campaign_report_csv(cid: str) -> CSVResponse:
        """One row per contact: its status, every attempt's outcome, talk time."""
        await _run(life.repo.get, cid)
        return CSVResponse(
            csv_chunks(contact_rows(life, cid)),
            headers={"Content-Disposition": f'attachment; filename="campaign-{cid}.csv"'})

    @router.get("/dnc", response_model=DncList)
    async def dnc_list() -> dict[str, Any]:
        """The global do-not-call numbers."""
        return {"numbers": await _run(life.repo.dnc_numbers)}

    @router.post("/dnc", response_model=DncAdded, responses=errors(422),
                 openapi_extra=json_body("DncNumbers"))
    async def dnc_add(request: Request) -> dict[str, int]:
        """Add numbers to the global do-not-call list (every campaign)."""
        numbers = await _run(_numbers, await _json(request, MAX_SPEC_BYTES))
        return {"added": await _run(life.repo.add_dnc, numbers)}

    @router.delete("/dnc", response_model=DncRemoved, responses=errors(422),
                   openapi_extra=json_body("DncNumbers"))
    async def dnc_remove(request: Request) -> dict[str, int]:
        """Remove numbers from the global do-not-call list."""
        numbers = await _run(_numbers, await _json(request, MAX_SPEC_BYTES))
        return {"removed": await _run(life.repo.remove_dnc, numbers)}

    return router


def _plan_route(router: APIRouter, life: Lifecycle) -> None:
    """``GET /v1/campaigns/{id}/plan``."""

    @router.get("/campaigns/{cid}/plan", response_model=PlanView, responses=errors(404, 422))
    async def plan_campaign(
        cid: str,
        answered: Annotated[float | None, Query(ge=0, le=1e6)] = None,
        busy: Annotated[float | None, Query(ge=0, le=1e6)] = None,
        no_answer: Annotated[float | None, Query(ge=0, le=1e6)] = None,
        failed: Annotated[float | None, Query(ge=0, le=1e6)] = None,
        call_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
    ) -> dict[str, Any]:
        """When it will finish and how many calls it will make (rates given, or the
        account's recent history; any rate not given is 0 when one is)."""
        rates = await _run(rates_from, answered, busy, no_answer, failed)
        return await _run(functools.partial(campaign_plan, life, cid, rates=rates,
                                            call_s=call_s))
