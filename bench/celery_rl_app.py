"""Celery's own task rate limit, for comparison: each task POSTs one call to the simulator.

``rate_limit`` (``BENCH_RATE_LIMIT``, e.g. ``600/m`` = 50 per 5 s) is a token bucket kept
by each worker process, so N workers send N times the limit. Celery's defaults otherwise
(prefetch 4 per slot, early acks), on the same threads pool as the dialer's workers.
Environment:
``BENCH_BROKER_URL``, ``BENCH_SIM_URL``, ``BENCH_RATE_LIMIT``.
"""

from __future__ import annotations

import os
import threading

import requests
from celery import Celery
from celery.signals import worker_ready

from bench.harness import READY_LINE, SIM_ACCOUNT

TASK = "bench.rl_post"
QUEUE = "rl"

app = Celery("bench-rl", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
             set_as_current=False)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                task_default_queue=QUEUE, broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False)

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False
    return session


@app.task(name=TASK, rate_limit=os.environ.get("BENCH_RATE_LIMIT", "600/m"))
def rl_post(n: int) -> int:
    sim = os.environ["BENCH_SIM_URL"]
    resp = _session().post(
        f"{sim}/v1/Accounts/{SIM_ACCOUNT['sid']}/Calls/connect.json",
        data={"From": f"+9198{n % 100_000_000:08d}"[:-1] + "0",
              "To": f"+9197{n % 100_000_000:08d}"[:-1] + "0",
              "CallerId": SIM_ACCOUNT["caller_id"], "CustomField": f"rl-{n}"},
        auth=(SIM_ACCOUNT["api_key"], SIM_ACCOUNT["api_token"]), timeout=10,
    )
    return resp.status_code


@worker_ready.connect
def _ready(**_: object) -> None:
    print(READY_LINE, flush=True)
