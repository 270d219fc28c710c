"""A client generated from ``/openapi.json`` by a generator from the package registry
(``openapi-python-client``, in the dev extras) drives the real stack: web app, Celery
workers, beat and the simulator over HTTP. It creates a call, reads it back typed (enums,
numbers, aware datetimes), creates a campaign and reads its report — the way a service in
another language would from its own generated client.

(The generator skips the ``text/csv`` request body of the contact import — it supports
JSON, forms and files — and generates that operation for JSON contacts.)
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialer.status import FINAL_CALL_STATES
from exotel_sim import SimConfig, Simulator
from tests.stack import API_TOKEN, wait_for

pytestmark = pytest.mark.slow

STACK_DEFAULTS = {"campaign_tick_s": 0.5, "pump_interval_s": 0.2, "max_retries": 0}
PACKAGE = "dialer_api_client"
FINAL = {s.value for s in FINAL_CALL_STATES}


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as s:
        yield s


def generate(spec_url: str, where: Path) -> Any:
    """Generate the client package from the running app's schema and import it."""
    spec = where / "openapi.json"
    spec.write_bytes(httpx.get(spec_url, timeout=10).raise_for_status().content)
    out = where / "gen" / PACKAGE
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}  # its ruff post-hooks
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--meta", "none", "--output-path", str(out)],
        capture_output=True, text=True, env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out.parent))
    return importlib.import_module(PACKAGE)


@pytest.fixture()
def generated(tmp_path: Path) -> Iterator[Any]:
    yield lambda url: generate(url, tmp_path)
    sys.path[:] = [p for p in sys.path if p != str(tmp_path / "gen")]
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a_generated_client_creates_a_call_reads_it_and_a_campaign_report(
    sim: Simulator, stack_factory: Any, generated: Any
) -> None:
    stack = stack_factory()
    stack.start_all()
    pkg = generated(f"{stack.web_url}/openapi.json")
    api = importlib.import_module(f"{PACKAGE}.api.calls")
    campaigns = importlib.import_module(f"{PACKAGE}.api.campaigns")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("post_calls", "get_call", "find_call"):
        importlib.import_module(f"{PACKAGE}.api.calls.{name}")
    for name in ("create_campaign", "get_campaign", "campaign_report_csv"):
        importlib.import_module(f"{PACKAGE}.api.campaigns.{name}")
    client = pkg.AuthenticatedClient(base_url=stack.web_url, token=API_TOKEN)

    # a call: created, then read back typed
    accepted = api.post_calls.sync(client=client, body=models.CallRequest(
        from_="+919810000110", to="+919820000110", custom_field="order-9",
        idempotency_key="gen-1"))
    assert isinstance(accepted, models.CallAccepted), accepted
    call_id = accepted.call_id

    def ended() -> Any:
        view = api.get_call.sync(call_id, client=client)
        done = isinstance(view, models.CallView) and view.state.value in FINAL
        return view if done and isinstance(view.duration_s, int) else None

    view = wait_for(ended, 60, "the call final, its duration filled in")
    assert view.state is models.CallState.COMPLETED and view.mode is models.Mode.CONNECT
    assert view.from_number == "+919810000110" and view.to_number == "+919820000110"
    assert view.custom_field == "order-9" and view.idempotency_key == "gen-1"
    (attempt,) = view.attempts
    assert attempt.state is models.AttemptState.COMPLETED and attempt.n == 1
    assert attempt.claimed_at.utcoffset() is not None  # an aware datetime, not a string
    assert isinstance(attempt.price, float | int) and attempt.call_sid
    found = api.find_call.sync(client=client, idempotency_key="gen-1")
    assert isinstance(found, models.CallView) and found.id == call_id

    # the refusals come back as the one error body
    missing = api.get_call.sync("0" * 24, client=client)
    assert isinstance(missing, models.ErrorBody) and "unknown call" in str(missing.detail)
    anonymous = pkg.Client(base_url=stack.web_url)
    denied = api.get_call.sync_detailed(call_id, client=anonymous)  # type: ignore[arg-type]
    assert denied.status_code == 401 and isinstance(denied.parsed, models.ErrorBody)
    bad = api.post_calls.sync(client=client, body=models.CallRequest(from_="not a number",
                                                                     to="+919820000110"))
    assert isinstance(bad, models.ErrorBody) and "From" in str(bad.detail)

    # a campaign with inline contacts, run to its end, and its report
    numbers = [f"+9198100002{i:02d}" for i in range(3)]
    created = campaigns.create_campaign.sync(client=client, body=models.CampaignCreate(
        name="generated", mode=models.Mode.FLOW, app_id="12345", start=True,
        schedule=models.ScheduleSpec(window_start="00:00", window_end="24:00"),
        contacts=[models.ContactIn(number=n) for n in numbers]))
    assert isinstance(created, models.CampaignCreated), created
    assert created.import_.imported == 3

    def over() -> Any:
        s = campaigns.get_campaign.sync(created.id, client=client)
        return s if s.state is models.CampaignState.COMPLETED else None

    summary = wait_for(over, 90, "the campaign completed")
    assert summary.contacts == 3 and summary.by_status.additional_properties == {"completed": 3}
    assert summary.idle_reasons
    report = campaigns.campaign_report_csv.sync(created.id, client=client)
    assert isinstance(report, str)
    rows = list(csv.DictReader(io.StringIO(report)))
    assert sorted(r["number"] for r in rows) == numbers
    assert {r["status"] for r in rows} == {"completed"}
