"""``dialer demo``: the whole system on this machine, in about a minute.

Starts the bundled Redis, the Exotel simulator (sped up), the web app, a worker and beat
as child processes; enqueues a batch of calls with every kind of outcome; shows a live
progress bar; prints what happened; stops everything it started — also on Ctrl-C.
"""

from __future__ import annotations

import csv
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.report import contact_rows, csv_chunks, summary
from dialer.devstack import DevStack, stack_env
from dialer.embedded import EmbeddedRedis, free_port
from dialer.keys import Keys
from dialer.producer import Producer
from dialer.publisher import CeleryPublisher, broker_app
from dialer.redis_conn import client_for
from dialer.settings import settings_from_env
from dialer.status import SETTLED_CALL_STATES, call_view
from dialer.store import Store
from exotel_sim import SimConfig, Simulator
from exotel_sim.inspect import max_in_window

LIMIT_CALLS, LIMIT_WINDOW_S = 12, 5.0  # a scaled-down Exotel limit, to show the waits


CAMPAIGN_KINDS = {"10": "answered", "91": "busy (not retried)",
                  "92": "no-answer, retried", "93": "failed, retried"}


def demo_contacts() -> bytes:
    """The campaign's contacts (CSV): the customer is the only leg of a flow call, so the
    simulator's last-two-digit rules decide its outcome and first-leg retries apply."""
    rows = ["number,name,custom_field"]
    plan = ["10"] * 12 + ["91"] * 3 + ["92"] * 3 + ["93"] * 2
    for i, suffix in enumerate(plan):
        rows.append(f"+91982000{i:02d}{suffix},Customer {i},reminder-{i}")
    return ("\n".join(rows) + "\n").encode()


def demo_singles() -> list[tuple[str, dict[str, Any]]]:
    """Single calls from "another service" (agent first, then customer) at the same time."""
    batch: list[tuple[str, dict[str, Any]]] = []
    for i in range(8):
        suffix = "91" if i >= 6 else "10"
        kind = "single: customer busy" if suffix == "91" else "single: answered"
        batch.append((kind, {"from": f"+91981000{i:02d}10", "to": f"+91983000{i:02d}{suffix}",
                             "metadata": {"demo": kind}, "custom_field": f"single-{i}"}))
    return batch


def _env(redis_url: str, sim_url: str, web_url: str) -> dict[str, str]:
    return stack_env(
        redis_url, sim_url, web_url, callback_secret="demo-callback-secret",
        api_token="demo-api-token", fast=False,
        rate_limit_calls=LIMIT_CALLS, rate_limit_window_s=LIMIT_WINDOW_S,
        rate_limit_margin_calls=1, max_retries=2, retry_backoff_base_s=1,
        retry_backoff_max_s=2, pump_interval_s=0.3, poll_after_s=10, poll_interval_s=5,
        poll_tick_s=1, sweep_interval_s=2, campaign_tick_s=0.5, evidence_delay_s=1,
        evidence_interval_s=2,
    )


def _start_children(env: dict[str, str], web_port: int, stack: DevStack) -> None:
    stack.web(web_port)
    stack.worker("demo", concurrency=8)
    stack.beat()


def _progress(console: Console, total: int, poll: Callable[[], tuple[int, str]],
              timeout_s: float) -> None:
    """A live bar until ``poll`` says every call is done: ``(done, detail)``."""
    with Progress(TextColumn("[bold]calls"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("calls", total=total, detail="")
        deadline = time.monotonic() + timeout_s
        while True:
            done, detail = poll()
            bar.update(task, completed=done, detail=detail)
            if done >= total:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"calls not final after {timeout_s}s: {detail}")
            time.sleep(0.25)


def _single_states(store: Store, ids: list[str]) -> Counter[str]:
    pipe = store.r.pipeline(transaction=False)
    for cid in ids:
        pipe.hget(store.keys.call(cid), "state")
    return Counter(str(s) for s in pipe.execute())


def _report(console: Console, store: Store, sim: Simulator, ids: list[str],
            kinds: dict[str, str], workdir: Path, redis_dir: Path) -> dict[str, int]:
    views = [call_view(store, cid) for cid in ids]
    table = Table(title="what happened")
    for col in ("scenario", "calls", "final status", "attempts"):
        table.add_column(col)
    rows: Counter[tuple[str, str, int]] = Counter(
        (kinds[v["id"]], v["state"], len(v["attempts"])) for v in views)
    for (kind, state, attempts), n in sorted(rows.items()):
        table.add_row(kind, str(n), state, str(attempts))
    console.print(table)
    by_status = Counter(v["state"] for v in views)
    attempts = sum(len(v["attempts"]) for v in views)
    posts = [r for r in sim.requests() if r.get("method") == "POST"]
    accepted = [r["arrival_time"] for r in posts if r.get("status_code") == 200]
    http_429 = sum(1 for r in posts if r.get("status_code") == 429)
    waits = sum(int(a.get("http_429", 0) or 0) for v in views for a in v["attempts"])
    events = cast(list[tuple[str, dict[str, str]]],
                  store.r.xrange(store.keys.events, "-", "+"))
    rate_waits = sum(1 for _, e in events if e.get("detail") == "rate limit")
    counted = sim.counted_requests()  # Exotel counts POSTs and GETs alike
    gets = sum(1 for r in counted if r.get("method") == "GET")
    peak = max_in_window([r["arrival_time"] for r in counted], LIMIT_WINDOW_S)
    report = workdir / "calls-report.csv"
    with report.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["call_id", "scenario", "from", "to", "final_status", "attempt",
                      "attempt_state", "call_sid", "leg1", "leg2", "detail"])
        for v in views:
            for a in v["attempts"]:
                out.writerow([v["id"], kinds[v["id"]], v["request"].get("From"),
                              v["request"].get("To"), v["state"], a.get("n"), a.get("state"),
                              a.get("call_sid"), a.get("leg1_status"), a.get("leg2_status"),
                              a.get("detail") or a.get("last_wait")])
    console.print(
        f"per status: {dict(by_status)}\n"
        f"retries taken: {attempts - len(ids)} (first-leg failures only, MaxRetries=2)\n"
        f"POSTs to Exotel: {len(accepted)} accepted, {http_429} refused with 429 "
        f"(Exotel-side 429 waits: {waits})\n"
        f"GETs to Exotel (polls, leg evidence, look-ups): {gets}\n"
        f"busiest {LIMIT_WINDOW_S:g} s window: {peak} requests (POSTs and GETs), limit "
        f"{LIMIT_CALLS} (scaled from Exotel's 200 per 60 s; {LIMIT_CALLS - 1} admitted with "
        f"the margin)\n"
        f"rate-limit waits: {rate_waits} (a call over the limit waits in the due set, "
        f"spending no retry)\n"
        f"events stream: Redis stream 'dialer:events' in {redis_dir} — "
        f"`dialer redis --data-dir {redis_dir}` then XRANGE dialer:events - +\n"
        f"per-call CSV (every attempt): {report}\n"
        f"Flower: run a worker and `dialer flower`, then open http://127.0.0.1:5555"
    )
    return dict(by_status)


def run_demo(workdir: Path, console: Console, timeout_s: float = 150.0) -> dict[str, int]:
    """Run the demo end to end; returns the count of calls per final status."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    redis_dir = workdir / "redis"
    sim_cfg = SimConfig(time_scale=0.05, limit_calls=LIMIT_CALLS,
                        limit_window_s=LIMIT_WINDOW_S, seed=7)
    with EmbeddedRedis(redis_dir) as server, Simulator(sim_cfg) as sim:
        console.print(f"[green]✓[/] bundled Redis at {server.url} (AOF in {redis_dir})")
        console.print(f"[green]✓[/] Exotel simulator at {sim.url} (20x speed, limit "
                      f"{LIMIT_CALLS} calls per {LIMIT_WINDOW_S:g} s)")
        web_port = free_port()
        env = _env(server.url, sim.url, f"http://127.0.0.1:{web_port}")
        stack = DevStack(env, workdir)
        try:
            _start_children(env, web_port, stack)
            console.print("[green]✓[/] web app, worker and beat running")
            settings = settings_from_env(env)
            client = client_for(settings)
            producer = Producer(client, settings, CeleryPublisher(broker_app(settings)))
            store = Store(client, Keys(settings.key_prefix))
            life = Lifecycle.connect(client, settings)
            cid = life.create({
                "name": "demo reminders", "mode": "flow", "app_id": "12345",
                "schedule": {"window_start": "00:00", "window_end": "24:00"},
                "pacing": {"calls_per_minute": 100, "max_concurrent": 8},
                "retry": {"max_retries": 2, "backoff_base_s": 1, "backoff_max_s": 2},
            })
            imported = life.import_contacts(cid, demo_contacts(), "csv")
            life.start(cid)
            console.print(f"campaign {cid}: {imported.imported} contacts, flow 12345, "
                          "50 calls/min, at most 8 at once, MaxRetries 2")
            singles = demo_singles()
            single_ids = producer.enqueue_many([req for _, req in singles])
            kinds = {c: kind for c, (kind, _) in zip(single_ids, singles, strict=True)}
            console.print(f"and {len(single_ids)} single calls from another service")
            total = imported.imported + len(single_ids)

            def poll() -> tuple[int, str]:
                summ = summary(life, cid)
                states = _single_states(store, single_ids)
                done = int(summ["done"]) + sum(n for st, n in states.items()
                                               if st in SETTLED_CALL_STATES)
                waiting = store.r.zcard(store.keys.due)
                return done, (f"campaign {summ['state']} {summ['by_status']} | single "
                              f"{dict(states)} | waiting: {waiting}")

            _progress(console, total, poll, timeout_s)
            rows = list(contact_rows(life, cid))
            for row in rows:
                kinds[row["call_id"]] = "campaign: " + CAMPAIGN_KINDS[str(row["number"])[-2:]]
            report = workdir / "campaign-report.csv"
            report.write_text("".join(csv_chunks(rows)))
            ids = [row["call_id"] for row in rows] + single_ids
            result = _report(console, store, sim, ids, kinds, workdir, redis_dir)
            console.print(f"campaign report CSV: {report}")
            return result
        finally:
            stack.stop()
            console.print("[green]✓[/] stopped every process the demo started")


@click.command("demo")
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".dialer/demo"),
              show_default=True, help="Where the demo keeps Redis data and the report.")
def demo(workdir: Path) -> None:
    """Run the whole system locally against the simulator and show what happened."""
    console = Console()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    try:
        run_demo(workdir, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything it started is stopped[/]")
        sys.exit(130)
    except (TimeoutError, RuntimeError) as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        sys.exit(1)
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")
