"""``dialer call | status | unknown | resolve``: one call, from the operator's terminal.

Every inspection command has ``--json``; plain output never cuts an id (tab-separated
when piped, see :func:`dialer.cli_helpers.print_table`).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from dialer.cli_helpers import fail, print_table, redis_of, settings_of
from dialer.errors import DialerError, ValidationError

WAIT_POLL_S = 0.5


def _store(ctx: click.Context) -> Any:
    from dialer.keys import Keys
    from dialer.store import Store

    settings = settings_of(ctx)
    return Store(redis_of(ctx, settings), Keys(settings.key_prefix))


def _metadata(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValidationError(f"--metadata: not valid JSON ({exc})", field="metadata") from None
    if not isinstance(value, dict):
        raise ValidationError("--metadata: expected a JSON object", field="metadata")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _params(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in values:
        name, found, value = p.partition("=")
        if not found:
            raise ValidationError(f"--param {p!r}: expected NAME=VALUE", field="params")
        out[name] = value
    return out


@click.command("call")
@click.option("--account", default=None, help="Account name (default: the first).")
@click.option("--mode", type=click.Choice(["connect", "flow", "v3"]), default="connect",
              show_default=True)
@click.option("--from", "from_", required=True, help="Called first (agent, or customer).")
@click.option("--to", default=None, help="The customer (connect, v3).")
@click.option("--caller-id", default=None, help="ExoPhone (default: the account's).")
@click.option("--app-id", default=None, help="Call flow id (flow mode).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Any Exotel parameter, e.g. TimeLimit=600 (repeatable).")
@click.option("--custom-field", default=None, help="Your CustomField value (returned in "
              "events and callbacks).")
@click.option("--metadata", default=None, metavar="JSON", help="A JSON object kept with the "
              "call.")
@click.option("--max-retries", type=click.IntRange(0, 20), default=None,
              help="Overrides DIALER_MAX_RETRIES for this call.")
@click.option("--idempotency-key", default=None)
@click.option("--wait", is_flag=True, help="Wait until the call is final and show it.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=900.0, show_default=True,
              help="With --wait: give up after this many seconds (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON ({call_id}, or the call "
              "with --wait).")
@click.pass_context
def call_cmd(ctx: click.Context, account: str | None, mode: str, from_: str, to: str | None,
             caller_id: str | None, app_id: str | None, params: tuple[str, ...],
             custom_field: str | None, metadata: str | None, max_retries: int | None,
             idempotency_key: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Enqueue one call and print its id (or, with --wait, how it ended)."""
    from dialer.producer import Producer
    from dialer.publisher import CeleryPublisher, broker_app

    settings = settings_of(ctx)
    debug = ctx.obj.get("debug", False)
    try:
        request = {"account": account, "mode": mode, "from": from_, "to": to,
                   "caller_id": caller_id, "app_id": app_id, "params": _params(params),
                   "custom_field": custom_field, "metadata": _metadata(metadata),
                   "idempotency_key": idempotency_key, "max_retries": max_retries}
    except DialerError as exc:
        fail(exc, debug)
    client = redis_of(ctx, settings)
    producer = Producer(client, settings, CeleryPublisher(broker_app(settings)))
    try:
        call_id = producer.enqueue(request)
    except DialerError as exc:
        fail(exc, debug)
    if not wait:
        click.echo(json.dumps({"call_id": call_id}) if as_json else call_id)
        return
    view = _wait_final(ctx, call_id, timeout)
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        _print_call(view)


def _wait_final(ctx: click.Context, call_id: str, timeout_s: float) -> dict[str, Any]:
    from dialer.status import FINAL_CALL_STATES, call_view

    store = _store(ctx)
    click.echo(f"call {call_id}: waiting until it is final (Ctrl-C stops waiting; the call "
               "goes on)", err=True)
    deadline = time.monotonic() + timeout_s
    while True:
        view = call_view(store, call_id)
        given_up = view["state"] == "unknown" and store.r.zscore(
            store.keys.unresolved, view["attempts"][-1]["id"]) is not None
        if view["state"] in FINAL_CALL_STATES or given_up:
            return view
        if time.monotonic() >= deadline:
            click.echo(f"error: call {call_id} is still {view['state']} after {timeout_s:g} s "
                       f"(dialer status {call_id})", err=True)
            sys.exit(1)
        time.sleep(WAIT_POLL_S)


def _print_call(view: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    line = console.print
    line(f"call {view['id']} account {view['account']} mode {view['mode']}: {view['state']}",
         markup=False, soft_wrap=True)
    line(f"from {view['from_number'] or '-'} to {view['to_number'] or '-'}"
         + (f" · campaign {view['campaign_id']}" if view["campaign_id"] else ""),
         markup=False, soft_wrap=True)
    facts = [f"{name} {view[key]}" for name, key in (
        ("duration", "duration_s"), ("price", "price"), ("recording", "recording_url"))
        if view[key] is not None]
    if facts:
        line(" · ".join(facts), markup=False, soft_wrap=True)
    if view["waiting_for"]:
        line(f"waiting for: {view['waiting_for']}", markup=False, soft_wrap=True)
    print_table(["#", "state", "call sid", "leg 1", "leg 2", "claimed", "ended", "detail",
                 "retry decision"],
                [[a.get(k) for k in ("n", "state", "call_sid", "leg1_status", "leg2_status",
                                     "claimed_at", "terminal_at", "detail", "decision_reason")]
                 for a in view["attempts"]],
                full=["call sid", "claimed", "ended"], console=console)


@click.command("status")
@click.argument("call_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status_cmd(ctx: click.Context, call_id: str, as_json: bool) -> None:
    """Show a call: From / To, duration, price, recording, why it waits, each attempt."""
    from dialer.status import call_view

    store = _store(ctx)
    try:
        view = call_view(store, call_id)
    except DialerError as exc:
        fail(exc, ctx.obj.get("debug", False))
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        _print_call(view)


def unknown_rows(store: Any) -> list[dict[str, Any]]:
    """Unknown attempts: given up on (the horizon passed) and still being looked up."""
    from dialer.status import iso_ms
    from dialer.store import call_id_of

    rows = []
    looking = store.zset_items(store.keys.unknown)
    for label, items in (("given up", store.unresolved()), ("looking up", looking)):
        for aid, _ in items:
            attempt = store.hash(store.keys.attempt(aid))
            call = store.hash(store.keys.call(call_id_of(aid)))
            request = json.loads(call.get("request") or "{}")
            rows.append({"call_id": call_id_of(aid), "attempt_id": aid, "status": label,
                         "state": attempt.get("state", ""),
                         "since": iso_ms(attempt.get("outcome_at")),
                         "from": request.get("From") or request.get("from_contact_uri"),
                         "to": request.get("To") or request.get("to_contact_uri"),
                         "detail": attempt.get("detail") or None})
    return rows


@click.command("unknown")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def unknown_cmd(ctx: click.Context, as_json: bool) -> None:
    """List calls whose outcome stayed unknown (never redialled: check them, then
    `dialer resolve`)."""
    rows = unknown_rows(_store(ctx))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ["call_id", "attempt_id", "status", "since", "from", "to", "detail"]
    print_table(columns, [[r[c] for c in columns] for r in rows],
                full=["call_id", "attempt_id", "since", "from", "to"])


@click.command("resolve")
@click.argument("attempt_id")
@click.option("--answered", "outcome", flag_value="answered",
              help="The call took place: it ends completed.")
@click.option("--not-placed", "outcome", flag_value="not-placed",
              help="Exotel never created it: it ends absent (or --redial).")
@click.option("--by", required=True, help="Who checked (recorded in the events).")
@click.option("--reason", required=True, help="How you know (recorded in the events).")
@click.option("--redial", is_flag=True, help="With --not-placed: dial it again while its "
              "retries last.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def resolve_cmd(ctx: click.Context, attempt_id: str, outcome: str | None, by: str,
                reason: str, redial: bool, as_json: bool) -> None:
    """Resolve an unknown attempt by hand (ATTEMPT_ID from `dialer unknown`)."""
    from dialer.manual import Outcome, resolve_unknown

    debug = ctx.obj.get("debug", False)
    if outcome is None:
        fail(ValidationError("say what happened: --answered or --not-placed",
                             field="outcome"), debug)
    store = _store(ctx)
    try:
        done = resolve_unknown(store, settings_of(ctx), attempt_id, Outcome(outcome), by,
                               reason, redial=redial)
    except DialerError as exc:
        fail(exc, debug)
    if as_json:
        click.echo(json.dumps({"attempt_id": done.attempt_id, "call_id": done.call_id,
                               "outcome": done.outcome.value,
                               "attempt_state": done.attempt_state,
                               "call_state": done.call_state, "redialled": done.redialled}))
        return
    click.echo(f"{done.attempt_id} {done.attempt_state}: call {done.call_id} "
               f"{done.call_state}" + (" (dialled again)" if done.redialled else ""))


COMMANDS = (call_cmd, status_cmd, unknown_cmd, resolve_cmd)
