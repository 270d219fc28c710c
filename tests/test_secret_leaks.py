"""Secrets never leave: a whole stack (web, worker, beat; a Redis with a password) runs
calls with recognisable secret values, then every process's log, every value in Redis
(Celery messages included), `dialer status`, and the error messages of bad requests and
bad settings are searched for each secret and for every callback token: no hit."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from click.testing import CliRunner

from dialer.cli import main
from dialer.embedded import EmbeddedRedis, free_port
from dialer.processes import Child
from dialer.webhooks import sign_attempt
from exotel_sim import SimConfig, Simulator
from tests.stack import ROOT, Stack, wait_for

pytestmark = pytest.mark.slow

REDIS_PASSWORD = "redis-PW-leak-3141"
ACCOUNT_TOKEN = "sim_token"  # the simulator's account token (it must accept it)
API_TOKEN = "api-TOKEN-leak-2718"
CALLBACK_SECRET = "cb-SECRET-leak-1618"
CLIENT_QUERY_TOKEN = "query-TOKEN-leak-1414"
FLOWER_AUTH = ("ops", "flower-PW-leak-1732")
SECRETS = [REDIS_PASSWORD, API_TOKEN, CALLBACK_SECRET, CLIENT_QUERY_TOKEN, FLOWER_AUTH[1]]
FLOWER_PAGES = ["/", "/workers", "/tasks", "/broker", "/api/tasks", "/api/workers?refresh=1",
                "/api/queues/length", "/api/task/types"]


@pytest.fixture()
def password_redis(tmp_path: Path) -> Iterator[str]:
    with EmbeddedRedis(tmp_path / "redis") as server:
        with redis.Redis.from_url(server.url) as client:
            client.config_set("requirepass", REDIS_PASSWORD)
        yield f"redis://:{REDIS_PASSWORD}@{server.host}:{server.port}/0"


@pytest.fixture()
def stack(password_redis: str, tmp_path: Path, request: pytest.FixtureRequest
          ) -> Iterator[Stack]:
    with Simulator(SimConfig(time_scale=0.01, limit_calls=100_000)) as sim:
        s = Stack(password_redis, sim.url, tmp_path, api_token=API_TOKEN,
                  callback_secret=CALLBACK_SECRET)
        try:
            port = free_port()
            s.web_url = f"http://127.0.0.1:{port}"
            s.env["DIALER_PUBLIC_BASE_URL"] = s.web_url
            web = Child("web", [sys.executable, "-m", "dialer.cli", "web", "--port",
                                str(port)], s.env, ROOT)  # info level: the access log
            s.procs.append(web)
            wait_for(lambda: web.answers(f"{s.web_url}/healthz"), 30, "the web app")
            s.start_worker("w1")
            s.start_beat()
            flower_port = free_port()
            env = dict(s.env, DIALER_FLOWER_BASIC_AUTH=":".join(FLOWER_AUTH))
            flower = Child("flower", [sys.executable, "-m", "dialer.cli", "flower", "--port",
                                      str(flower_port)], env, tmp_path)
            s.procs.append(flower)
            s.flower_url = f"http://127.0.0.1:{flower_port}"  # type: ignore[attr-defined]
            wait_for(lambda: flower.answers(f"{s.flower_url}/healthcheck"), 30,  # type: ignore
                     "Flower")
            yield s
        finally:
            s.stop()
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                print(s.dump())


def redis_text(url: str) -> str:
    """Every key and value of the database as text (lists, hashes, sets, streams)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = kind
        parts.append(f"{key} {json.dumps(value, default=str)}")
    client.close()
    return "\n".join(parts)


def test_no_secret_and_no_callback_token_leaves(stack: Stack, password_redis: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    seen: list[str] = []  # everything an outsider could read
    ids = []
    for i in range(3):
        resp = requests.post(f"{stack.web_url}/v1/calls", headers=auth, timeout=10, json={
            "from": f"+9198100{i:04d}0", "to": f"+9198200{i:04d}0",
            "idempotency_key": f"leak-{i}"})
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["call_id"])
    seen.append(redis_text(password_redis))  # the place_call messages may wait there

    def final() -> bool:
        seen.append(redis_text(password_redis))
        views = [requests.get(f"{stack.web_url}/v1/calls/{i}", headers=auth, timeout=10)
                 .json() for i in ids]
        return all(v.get("final_status") for v in views)

    wait_for(final, 90, "the calls to end")
    # a client that puts its token in the query string; bad requests of every kind
    for name in ("api_token", "token", "access_token"):
        seen.append(requests.get(f"{stack.web_url}/v1/calls?idempotency_key=leak-0&"
                                 f"{name}={CLIENT_QUERY_TOKEN}", timeout=10).text)
    seen.append(requests.post(f"{stack.web_url}/v1/calls", timeout=10,
                              headers={"Authorization": f"Bearer {CLIENT_QUERY_TOKEN}"},
                              json={"from": "1"}).text)
    seen.append(requests.post(f"{stack.web_url}/v1/calls", headers=auth, timeout=10,
                              json={"from": "x", "params": {"to": "y"}}).text)
    aid = f"{ids[0]}-1"
    seen.append(requests.post(f"{stack.web_url}/v1/callbacks/exotel/{aid}?token=forged",
                              timeout=10).text)
    seen.append(requests.get(f"{stack.web_url}/healthz", timeout=10).text)
    # the CLI, with the stack's settings
    for key, value in stack.env.items():
        if key.startswith("DIALER_"):
            monkeypatch.setenv(key, value)
    for call_id in ids:
        for args in (["status", call_id], ["status", call_id, "--json"]):
            res = CliRunner().invoke(main, args)
            assert res.exit_code == 0, res.output
            seen.append(res.output)
    seen.append(CliRunner().invoke(main, ["unknown"]).output)
    # settings errors holding the secrets
    for key, value in (
        ("DIALER_REDIS_URL", f"http://:{REDIS_PASSWORD}@127.0.0.1:1/0"),
        ("DIALER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0?password={REDIS_PASSWORD}"),
        ("DIALER_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"),
        ("DIALER_ACCOUNTS", json.dumps({"name": "x", "api_token": API_TOKEN})),
    ):
        monkeypatch.setenv(key, value)
        monkeypatch.setenv("DIALER_REDIS_CONNECT_TIMEOUT_S", "0.5")
        res = CliRunner().invoke(main, ["status", ids[0]])
        assert res.exit_code != 0
        seen.append(res.output)
        monkeypatch.setenv(key, stack.env.get(key, ""))
    seen.append(redis_text(password_redis))
    flower_url = stack.flower_url  # type: ignore[attr-defined]
    wait_for(lambda: requests.get(f"{flower_url}/api/tasks", auth=FLOWER_AUTH, timeout=5)
             .json(), 30, "Flower to list tasks")
    for page in FLOWER_PAGES:
        resp = requests.get(f"{flower_url}{page}", auth=FLOWER_AUTH, timeout=10)
        assert resp.status_code == 200, (page, resp.status_code)
        seen.append(resp.text)
    for proc in stack.procs:
        seen.append(proc.output)
    tokens = [sign_attempt(CALLBACK_SECRET, f"{call_id}-{n}") for call_id in ids
              for n in range(1, 4)]
    text = "\n".join(seen)
    assert "GET /v1/callbacks/exotel/" in text or "POST /v1/callbacks/exotel/" in text, \
        "the access log shows no callback: the test saw nothing"
    hits = {s: text.count(s) for s in [*SECRETS, *tokens] if s in text}
    context = {s: text[max(0, text.index(s) - 200):text.index(s) + 50] for s in hits}
    assert not hits, context
