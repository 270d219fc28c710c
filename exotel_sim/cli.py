"""``dialer simulator``: run the Exotel simulator in the foreground."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError

from exotel_sim.config import OUTCOMES, V3_FAULT_CODES, SimConfig, parse_account
from exotel_sim.fidelity import as_text
from exotel_sim.server import Simulator

EPILOG = """\b
Magic numbers (last two digits of a number):
  per leg (From = leg 1, To = leg 2):
    91  busy        92  no-answer        93  failed        other  answered
  per call, on To (flows and v3: on From / from.contact_uri):
    95  accept-then-drop: the call is created and runs its life, but the HTTP
        connection is cut before any answer (the client sees a connection error)
    96  the POST answers 500 (v3: 500/1100) and creates no call
  the customer's number (To in connect, From in a flow, to in v3):
    94  on the DND (NDNC) registry: the POST answers 403 and creates no call
Precedence for leg 1: --scenario, then the magic suffix, then the seeded --outcome odds.

\b
Endpoints:
  POST /v1/Accounts/<sid>/Calls/connect[.json]   GET /v1/Accounts/<sid>/Calls/<CallSid>[.json]
  GET /v1/Accounts/<sid>/Calls[.json] (bulk call details: ended calls, filters, paging)
  POST /v3/accounts/<sid>/calls   GET /v3/accounts/<sid>/calls/<call_sid>[/legs]
  /_sim/health|config|scenario|requests|calls|callbacks|reset|idle (inspection and control)
Simulated durations are multiplied by --time-scale; the limiter window, --latency-s and the
callback delays are real seconds.

"""

_D = SimConfig.model_fields

# (flag, SimConfig field, click type, help)
_VALUE_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--time-scale", "time_scale", float, "Multiplier of every simulated duration (0.01 = 100x)."),
    ("--limit-calls", "limit_calls", int,
     "Voice API requests allowed per account per window (see --limit-scope)."),
    ("--limit-window-s", "limit_window_s", float, "Sliding window of the limit, real seconds."),
    ("--seed", "seed", int, "Seed of the outcome and fault dice."),
    ("--dial-delay-s", "dial_delay_s", float, "Queued before leg 1 rings (simulated s)."),
    ("--ring-s", "ring_s", float, "Ringing before a leg answers (simulated s)."),
    ("--talk-s", "talk_s", float, "Conversation / flow length, capped by TimeLimit (simulated s)."),
    ("--ring-timeout-s", "ring_timeout_s", float, "Ringing before no-answer without TimeOut."),
    ("--busy-s", "busy_s", float, "Ringing before a leg is busy (simulated s)."),
    ("--failed-s", "failed_s", float, "Before a leg fails (simulated s)."),
    ("--duration-fill-delay-s", "duration_fill_delay_s", float,
     "Duration/Price/EndTime appear this long after the end (simulated s)."),
    ("--error-5xx-ratio", "error_5xx_ratio", float, "Share of call POSTs answered 500."),
    ("--latency-s", "latency_s", float, "Extra delay before every /v1 /v3 answer (real s)."),
    ("--accept-then-drop-ratio", "accept_then_drop_ratio", float,
     "Share of call POSTs that create the call, then cut the connection unanswered."),
    ("--callback-drop-ratio", "callback_drop_ratio", float, "Share of callbacks never sent."),
    ("--callback-duplicate-ratio", "callback_duplicate_ratio", float,
     "Share of callbacks sent twice."),
    ("--callback-delay-s", "callback_delay_s", float, "Hold every callback this long (real s)."),
    ("--callback-reorder-window-s", "callback_reorder_window_s", float,
     "With --callback-reorder, extra random hold of 0..this (real s)."),
    ("--callback-timeout-s", "callback_timeout_s", float,
     "A callback try fails unless the receiver answers 2xx within this (real s)."),
    ("--callback-retries", "callback_retries", int,
     "More tries after a failed callback try (Exotel: up to 2)."),
    ("--callback-retry-delay-s", "callback_retry_delay_s", float,
     "Wait between callback tries (real s; not documented by Exotel)."),
]
# (flag pair, SimConfig field, help)
_FLAG_OPTIONS: list[tuple[str, str, str]] = [
    ("--callback-reorder/--no-callback-reorder", "callback_reorder",
     "Hold callbacks a random extra delay so calls' callbacks arrive out of order."),
    ("--v1-callback-always-extended/--v1-callback-documented", "v1_callback_always_extended",
     "v1: send the extended callback (EventType, Legs, CustomField…) even without "
     "StatusCallbackEvents (the old rich behaviour)."),
    ("--dnd-check/--no-dnd-check", "dnd_check",
     "Refuse calls to DND numbers (suffix 94, --dnd-number) with 403."),
    ("--voip-enabled/--no-voip-enabled", "voip_enabled",
     "v3: accept sip: contact_uri (else 405/10712)."),
]


def _odds(values: tuple[str, ...], flag: str) -> dict[str, float] | None:
    if not values:
        return None
    odds: dict[str, float] = {}
    for item in values:
        name, sep, weight = item.partition("=")
        try:
            odds[name.strip()] = float(weight)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected NAME=WEIGHT", param_hint=flag) from None
        if not sep or name.strip() not in OUTCOMES:
            raise click.BadParameter(f"{item!r}: NAME is one of {', '.join(OUTCOMES)}",
                                     param_hint=flag)
    return odds


def _scenario(values: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values:
        number, sep, seq = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NUMBER=OUTCOME[,OUTCOME...]",
                                     param_hint="--scenario")
        out[number.strip()] = [part.strip() for part in seq.split(",") if part.strip()]
    return out


def _build_config(opts: dict[str, Any]) -> SimConfig:
    data: dict[str, Any] = {
        field: opts[field] for _, field, _, _ in _VALUE_OPTIONS if opts[field] is not None
    }
    if opts["accounts"]:
        try:
            data["accounts"] = dict(parse_account(text) for text in opts["accounts"])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--account") from None
    data["virtual_numbers"] = list(opts["virtual_numbers"])
    data["dnd_numbers"] = list(opts["dnd_numbers"])
    for _, field, _ in _FLAG_OPTIONS:
        if opts[field] is not None:
            data[field] = opts[field]
    if opts["limit_scope"] is not None:
        data["limit_scope"] = opts["limit_scope"]
    data["v3_faults"] = _v3_faults(opts["v3_faults"])
    for flag, field in (("--outcome", "outcomes"), ("--leg1-outcome", "leg1_outcomes"),
                        ("--leg2-outcome", "leg2_outcomes")):
        odds = _odds(opts[field], flag)
        if odds is not None:
            data[field] = odds
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None


def _v3_faults(values: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in values:
        endpoint, sep, code = item.partition("=")
        allowed = V3_FAULT_CODES.get(endpoint.strip())
        if not sep or allowed is None or not code.strip().isdigit() \
                or int(code) not in allowed:
            choices = "; ".join(f"{k}={'|'.join(map(str, v))}" for k, v in V3_FAULT_CODES.items())
            raise click.BadParameter(f"{item!r}: expected {choices}", param_hint="--v3-fault")
        out[endpoint.strip()] = int(code)
    return out


def _with_value_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for flags, field, text in reversed(_FLAG_OPTIONS):
        default = _D[field].default
        on, off = flags.split("/")
        fn = click.option(flags, field, default=None,
                          help=f"{text} [default: {on if default else off}]")(fn)
    for flag, field, kind, text in reversed(_VALUE_OPTIONS):
        default = _D[field].default
        fn = click.option(flag, field, type=kind, default=None,
                          help=f"{text} [default: {default}]")(fn)
    return fn


@click.command("simulator", epilog=EPILOG + as_text())
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: a free one).")
@click.option("--account", "accounts", multiple=True, metavar="SID:API_KEY:API_TOKEN",
              help="An account (repeatable) [default: AC_SIM:sim_key:sim_token]. Basic auth "
                   "user is the API key or the SID, password the token.")
@click.option("--virtual-number", "virtual_numbers", multiple=True, metavar="NUMBER",
              help="An ExoPhone (repeatable); none: any CallerId / virtual_number is accepted.")
@_with_value_options
@click.option("--outcome", "outcomes", multiple=True, metavar="NAME=WEIGHT",
              help="Seeded odds per leg (repeatable), NAME: answered, busy, no-answer, failed "
                   "[default: answered=1].")
@click.option("--leg1-outcome", "leg1_outcomes", multiple=True, metavar="NAME=WEIGHT",
              help="Odds for leg 1 only (repeatable); default: --outcome.")
@click.option("--leg2-outcome", "leg2_outcomes", multiple=True, metavar="NAME=WEIGHT",
              help="Odds for leg 2 only (repeatable); default: --outcome.")
@click.option("--scenario", "scenario", multiple=True, metavar="NUMBER=OUTCOME[,OUTCOME...]",
              help="Leg-1 outcomes of NUMBER, one per call it starts (repeatable).")
@click.option("--limit-scope", type=click.Choice(["all", "posts"]), default=None,
              help="What counts against the limit: every Voice API request (all) or only "
                   "call-creating POSTs [default: all].")
@click.option("--dnd-number", "dnd_numbers", multiple=True, metavar="NUMBER",
              help="A number on the DND registry (repeatable), besides those ending in 94.")
@click.option("--v3-fault", "v3_faults", multiple=True, metavar="ENDPOINT=CODE",
              help="Answer every v3 request of ENDPOINT with that seed-002 error (repeatable): "
                   "create=1012|10705|10703|10706|10712|10731|10806|10702, details=1021|1022, "
                   "legs=10743|10715|10724.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Log level.")
def simulator(host: str, port: int, scenario: tuple[str, ...], log_level: str,
              **opts: Any) -> None:
    """Run an Exotel API simulator (v1 connect / flow, v3 CCM calls) until Ctrl-C.

    Calls ring, get answered or not, end and send StatusCallbacks on a clock scaled by
    --time-scale; the account limit answers 429 with Retry-After and X-RateLimit-* like
    Exotel. Defaults follow Exotel's documents: see the fidelity table below.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    config = _build_config(opts)
    sim = Simulator(config, host=host, port=port)
    if scenario:
        try:
            sim.set_scenario(_scenario(scenario))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from None

    def ready(url: str) -> None:
        accounts = ", ".join(f"{sid} (key {acc.api_key})" for sid, acc in config.accounts.items())
        click.echo(f"Exotel simulator on {url} - accounts: {accounts}; Ctrl-C to stop")

    sim.serve_forever(ready)


main = simulator

if __name__ == "__main__":  # pragma: no cover
    simulator()
