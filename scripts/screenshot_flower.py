"""Screenshot of Flower's tasks page after a few real calls: ``make screenshot``.

Starts the bundled Redis and the simulator, then a worker, beat, the web app and Flower
as child processes (each in its own process group), places a few calls with different
outcomes through the HTTP API, and has headless Chromium save ``docs/flower-tasks.png``.
Every process it started is stopped on the way out, also on Ctrl-C. Without Chromium it
says so and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from dialer.embedded import EmbeddedRedis, free_port
from exotel_sim import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "flower-tasks.png"
DIALER = str(Path(sys.executable).with_name("dialer"))
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# answered, busy on leg 1, no-answer on leg 2 (no retry), failed on leg 1 (retried)
CALLS = [("+919810000010", "+919820000010"), ("+919810000191", "+919820000020"),
         ("+919810000030", "+919820000092"), ("+919810000093", "+919820000040"),
         ("+919810000050", "+919820000050"), ("+919810000060", "+919820000060")]
FINAL = {"completed", "busy", "no-answer", "failed", "rejected", "cancelled", "unknown"}


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(requests.RequestException):
            if value := condition():
                return value
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.2)


class Children:
    """Child processes, each in its own session; ``stop_all`` ends every one of them."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, env=env, cwd=self.logs, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"error: {name} exited with {proc.returncode}:\n{tail}")

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@contextlib.contextmanager
def running_stack(tmp: Path, sim_url: str, redis_url: str) -> Iterator[dict[str, Any]]:
    web_port, flower_port = free_port(), free_port()
    api_token = secrets.token_urlsafe(24)
    accounts = [{"name": "main", "sid": "AC_SIM", "api_key": "sim_key",
                 "api_token": "sim_token", "base_url": sim_url, "caller_id": "08030752400"}]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALER_", "FLOWER_"))}
    env.update({
        "DIALER_REDIS_URL": redis_url, "DIALER_ACCOUNTS": json.dumps(accounts),
        "DIALER_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "DIALER_CALLBACK_SECRET": secrets.token_urlsafe(24), "DIALER_API_TOKEN": api_token,
        # The pump brings retries back; the other beat tasks would only crowd the page.
        "DIALER_PUMP_INTERVAL_S": "1.0", "DIALER_POLL_TICK_S": "60", "DIALER_CAMPAIGN_TICK_S": "60",
        "DIALER_SWEEP_INTERVAL_S": "600", "DIALER_RETRY_BACKOFF_BASE_S": "0.5",
        "DIALER_RETRY_BACKOFF_MAX_S": "1.0", "DIALER_MAX_RETRIES": "1",
        "PYTHONUNBUFFERED": "1",
    })
    children = Children(tmp)
    try:
        children.start("worker", [DIALER, "worker", "-c", "4"], env)
        children.start("beat", [DIALER, "beat", "-s", str(tmp / "beat-schedule")], env)
        children.start("web", [DIALER, "web", "--port", str(web_port)], env)
        children.start("flower", [DIALER, "flower", "--port", str(flower_port)], env)
        yield {"web": f"http://127.0.0.1:{web_port}", "flower": f"http://127.0.0.1:{flower_port}",
               "token": api_token, "children": children}
    finally:
        children.stop_all()


def place_calls(web: str, token: str, children: Children) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}

    def healthy() -> bool:
        children.check()
        return requests.get(f"{web}/healthz", timeout=2).status_code == 200

    wait_for(healthy, 60, "the web app")
    ids = []
    for from_, to in CALLS:
        resp = requests.post(f"{web}/v1/calls", json={"from": from_, "to": to},
                             headers=headers, timeout=10)
        resp.raise_for_status()
        ids.append(resp.json()["call_id"])

    def all_final() -> bool:
        children.check()
        states = [requests.get(f"{web}/v1/calls/{cid}", headers=headers, timeout=5).json()
                  .get("state") for cid in ids]
        return all(s in FINAL for s in states)

    wait_for(all_final, 90, "the calls to end")
    return ids


def flower_lists_tasks(flower: str, count: int) -> bool:
    """Flower's tasks page data (the view its table loads) holds ``count`` calls' tasks."""
    params = {"draw": "1", "start": "0", "length": "200", "search[value]": "place_call",
              "order[0][column]": "0", "columns[0][data]": "received", "order[0][dir]": "desc"}
    data = requests.get(f"{flower}/tasks/datatable", params=params, timeout=5).json()
    return int(data.get("recordsFiltered", 0)) >= count


def screenshot(chromium: str, url: str, profile: Path) -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
            "--virtual-time-budget=8000", f"--screenshot={OUTPUT}", "--window-size=1400,900",
            url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          start_new_session=True)
    if done.returncode != 0 or not OUTPUT.is_file():
        raise SystemExit(f"error: chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")


def main() -> int:
    chromium = next((p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None)
    if chromium is None:
        print("skipped: no Chromium found (apt-get install chromium); no screenshot taken")
        return 0
    with tempfile.TemporaryDirectory(prefix="dialer-screenshot-") as tmp_name:
        tmp = Path(tmp_name)
        sim_config = SimConfig(time_scale=0.01, limit_calls=100_000)
        with EmbeddedRedis(tmp / "redis") as redis_server, Simulator(sim_config) as sim, \
                running_stack(tmp, sim.url, redis_server.url) as stack:
            print("placing calls …", flush=True)
            ids = place_calls(stack["web"], stack["token"], stack["children"])
            wait_for(lambda: flower_lists_tasks(stack["flower"], len(ids)), 30,
                     "Flower to list the tasks")
            print("taking the screenshot …", flush=True)
            screenshot(chromium, f"{stack['flower']}/tasks", tmp / "chromium")
    size_kb = OUTPUT.stat().st_size / 1024
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({size_kb:.0f} KB)")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
