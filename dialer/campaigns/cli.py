"""``dialer campaign …``: create | import | start | list | show [--watch] | plan | pause |
resume | cancel | report | dnc. Each verb calls :class:`dialer.campaigns.lifecycle.Lifecycle`.
Inspection verbs have ``--json``; plain output never cuts an id
(:func:`dialer.cli_helpers.print_table`)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dialer.campaigns.idle import with_idle_reasons
from dialer.campaigns.importer import ImportReport
from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.plan_state import campaign_plan, rates_from
from dialer.campaigns.repo import describe
from dialer.campaigns.report import contact_rows, csv_chunks, summary
from dialer.cli_helpers import fail, print_table, redis_of, settings_of
from dialer.errors import DialerError, ValidationError
from dialer.phone import normalize

T = TypeVar("T")
err = Console(stderr=True)


def _life(ctx: click.Context) -> Lifecycle:
    settings = settings_of(ctx)
    return Lifecycle.connect(redis_of(ctx, settings), settings)


def _do(ctx: click.Context, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    try:
        return fn(*args, **kw)
    except DialerError as exc:
        fail(exc, ctx.obj.get("debug", False))
        raise  # pragma: no cover - fail exits


@click.group("campaign")
def campaign() -> None:
    """Scheduled campaign batches: contacts, calling windows, pacing, reports."""


# option name → where it goes in the spec
_OPTION_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("name",), "account": ("account",), "mode": ("mode",),
    "caller_id": ("caller_id",), "app_id": ("app_id",),
    "start_at": ("schedule", "start_at"), "end_at": ("schedule", "end_at"),
    "days": ("schedule", "days"), "timezone": ("schedule", "timezone"),
    "recurrence": ("schedule", "recurrence"),
    "cpm": ("pacing", "calls_per_minute"), "max_concurrent": ("pacing", "max_concurrent"),
    "max_retries": ("retry", "max_retries"), "retry_on_busy": ("retry", "retry_on_busy"),
    "cap_attempts": ("caps", "attempts"), "cap_period": ("caps", "period"),
    "when_capped": ("caps", "when_capped"),
}


def _pairs(values: tuple[str, ...], what: str, sep: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        name, found, value = v.partition(sep)
        if not found:
            raise ValidationError(f"{what} {v!r}: expected NAME{sep}VALUE", field=what)
        out.append((name, value))
    return out


def _spec_from_options(o: dict[str, Any]) -> dict[str, Any]:
    spec = _spec_file(Path(o["spec"])) if o["spec"] else {}
    for option, path in _OPTION_PATHS.items():
        if o[option] is None:
            continue
        target = spec
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = o[option]
    if o["agent"]:
        spec["agents"] = list(o["agent"])
    if o["param"]:
        spec["params"] = {**spec.get("params", {}), **dict(_pairs(o["param"], "--param", "="))}
    if o["window"]:
        ((start, end),) = _pairs((o["window"],), "--window", "-")
        spec.setdefault("schedule", {}).update(window_start=start, window_end=end)
    return spec


def _spec_file(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"--spec {str(path)!r}: cannot be read ({exc.strerror})",
                              field="spec") from None
    except UnicodeDecodeError:
        raise ValidationError(f"--spec {str(path)!r}: not UTF-8", field="spec") from None
    except ValueError as exc:
        raise ValidationError(f"--spec {str(path)!r}: not valid JSON ({exc})",
                              field="spec") from None
    if not isinstance(spec, dict):
        raise ValidationError(f"--spec {str(path)!r}: expected a JSON object (a campaign "
                              "spec)", field="spec")
    return spec


@campaign.command("create")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A JSON campaign spec; the options below override it.")
@click.option("--name", default=None)
@click.option("--account", default=None, help="Account name (default: the first).")
@click.option("--mode", type=click.Choice(["flow", "connect", "v3"]), default=None,
              help="flow: customer → call flow (default); connect/v3: agent → customer.")
@click.option("--app-id", default=None, help="Call flow id (flow mode).")
@click.option("--agent", multiple=True, help="An agent number (connect, v3); repeatable.")
@click.option("--caller-id", default=None, help="ExoPhone (default: the account's).")
@click.option("--param", multiple=True, metavar="NAME=VALUE", help="Any Exotel parameter.")
@click.option("--start-at", default=None, help="ISO time (default: when started).")
@click.option("--end-at", default=None, help="ISO time: no new dials after it.")
@click.option("--days", default=None, help="e.g. mon-fri (default: every day).")
@click.option("--window", default=None, help="HH:MM-HH:MM (default 09:00-21:00).")
@click.option("--timezone", default=None, help="For contacts without one (Asia/Kolkata).")
@click.option("--recurrence", default=None, help="Cron, e.g. '0 10 * * mon-fri': a template.")
@click.option("--cpm", type=float, default=None, help="Calls per minute (default 60).")
@click.option("--max-concurrent", type=int, default=None, help="Live calls at most (10).")
@click.option("--max-retries", type=int, default=None, help="Overrides DIALER_MAX_RETRIES.")
@click.option("--retry-on-busy/--no-retry-on-busy", default=None)
@click.option("--cap-attempts", type=int, default=None,
              help="Dial attempts per customer number per period, counted across every "
              "source (the account's DIALER_CONTACT_CAP_ATTEMPTS applies too).")
@click.option("--cap-period", type=click.Choice(["day", "week", "rolling-24h"]), default=None,
              help="The cap's period (day; day and week in the number's zone).")
@click.option("--when-capped", type=click.Choice(["wait", "end"]), default=None,
              help="A capped contact waits for the next period or ends 'capped'.")
@click.option("--contacts", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Import this CSV/JSON file at once.")
@click.option("--start", "start_now", is_flag=True, help="Schedule it at once.")
@click.pass_context
def create_cmd(ctx: click.Context, contacts: str | None, start_now: bool, **o: Any) -> None:
    """Create a campaign (a draft) and print its id."""
    life = _life(ctx)
    spec = _do(ctx, _spec_from_options, o)
    path = Path(contacts) if contacts else None
    data = _do(ctx, _read, path) if path else None
    fmt = _format(path, None) if path else "csv"
    with _progress() as on_progress:
        cid, report = _do(ctx, life.create_with_contacts, spec, data, fmt, on_progress,
                          start=start_now)
    click.echo(cid)
    if report is not None:
        _print_report(report)
    if start_now:
        err.print(f"campaign {cid}: {life.repo.get(cid).state.value}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}", field="file"
                              ) from None


def _format(path: Path, fmt: str | None) -> str:
    return fmt or ("json" if path.suffix.lower() == ".json" else "csv")


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("import", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_progress


def _import(ctx: click.Context, life: Lifecycle, cid: str, path: Path, fmt: str | None) -> None:
    data = _do(ctx, _read, path)
    with _progress() as on_progress:
        report = _do(ctx, life.import_contacts, cid, data, _format(path, fmt), on_progress)
    _print_report(report)


def _print_report(report: ImportReport) -> None:
    err.print(f"{report.imported} imported, {report.duplicates} duplicates, "
              f"{report.suppressed} do-not-call, {report.invalid} invalid "
              f"(of {report.rows} rows)")
    for p in report.problems[:50]:
        err.print(f"  line {p.line}: {p.reason}", markup=False, highlight=False)
    if report.skipped > 50:
        err.print(f"  … and {report.skipped - 50} more")


@campaign.command("import")
@click.argument("campaign_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Default: by the file's extension.")
@click.pass_context
def import_cmd(ctx: click.Context, campaign_id: str, file: Path, fmt: str | None) -> None:
    """Import contacts; bad rows are reported by line and the good ones imported."""
    _import(ctx, _life(ctx), campaign_id, file, fmt)


def _action(name: str, help_text: str) -> None:
    @campaign.command(name, help=help_text)
    @click.argument("campaign_id")
    @click.pass_context
    def cmd(ctx: click.Context, campaign_id: str) -> None:
        life = _life(ctx)
        state = _do(ctx, getattr(life, name), campaign_id)
        click.echo(f"{campaign_id} {state.value}")


_action("start", "Schedule a draft campaign (it runs at its start_at).")
_action("pause", "Stop new dials within one tick; queued attempts wait.")
_action("resume", "Continue a paused campaign where it stopped.")
_action("cancel", "Stop for good: drop contacts not dialled, cancel pending attempts.")


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List campaigns, newest first."""
    rows = [describe(c) for c in _do(ctx, _life(ctx).repo.list_all)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    keys = ("id", "name", "state", "mode", "contacts", "recurrence", "created_at")
    print_table(keys, [[r[k] for k in keys] for r in rows], full=["id", "created_at"])


def _show(s: dict[str, Any]) -> None:
    rows = [["id", s["id"]], ["name", s["name"]]]
    reasons = s.get("idle_reasons") or []
    rows += [["not dialling", reason] for reason in reasons]
    for key, value in s.items():
        if value not in (None, {}, "", []) and key not in ("id", "name", "idle_reasons"):
            rows.append([key, json.dumps(value) if isinstance(value, dict) else value])
    print_table(["field", "value"], rows, full=["value"])


@campaign.command("show")
@click.argument("campaign_id")
@click.option("--watch", is_flag=True, help="A live progress bar until it ends (Ctrl-C).")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_cmd(ctx: click.Context, campaign_id: str, watch: bool, interval: float,
             as_json: bool) -> None:
    """Counts by status, attempts, answered rate, average talk time, progress."""
    life = _life(ctx)
    s = _do(ctx, with_idle_reasons, life, campaign_id)
    if not watch:
        click.echo(json.dumps(s, indent=2)) if as_json else _show(s)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=Console()) as progress:
            task = progress.add_task("", total=max(1, s["contacts"]))
            while True:
                idle = "; ".join(s["idle_reasons"])
                desc = (f"{s['state']} · live {s['live']} · pending {s['pending']} · "
                        f"{' '.join(f'{k} {v}' for k, v in s['by_status'].items())}"
                        + (f" · not dialling: {idle}" if idle else ""))
                progress.update(task, completed=s["done"], total=max(1, s["contacts"]),
                                description=desc)
                if s["state"] in ("completed", "cancelled"):
                    break
                time.sleep(interval)
                s = _do(ctx, with_idle_reasons, life, campaign_id)
    except KeyboardInterrupt:
        pass
    _show(s)


@campaign.command("plan")
@click.argument("campaign_id")
@click.option("--answered", type=click.FloatRange(min=0), default=None,
              help="Share of attempts answered (with --busy, --no-answer, --failed; any "
              "not given is 0). Default: the account's recent history, else 0.6/0.1/0.2/0.1.")
@click.option("--busy", type=click.FloatRange(min=0), default=None)
@click.option("--no-answer", "no_answer", type=click.FloatRange(min=0), default=None)
@click.option("--failed", type=click.FloatRange(min=0), default=None)
@click.option("--call-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds one attempt lasts, ring to end (default: history, else 45).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plan_cmd(ctx: click.Context, campaign_id: str, answered: float | None, busy: float | None,
             no_answer: float | None, failed: float | None, call_s: float | None,
             as_json: bool) -> None:
    """When the campaign will finish, how many calls it will make, and what bounds it."""
    life = _life(ctx)
    rates = _do(ctx, rates_from, answered, busy, no_answer, failed)
    p = _do(ctx, campaign_plan, life, campaign_id, rates=rates, call_s=call_s)
    if as_json:
        click.echo(json.dumps(p, indent=2))
        return
    out = Console()
    r = p["rates"]
    out.print(f"campaign {p['id']} ({p['state']}): {p['contacts']} contacts → "
              f"{p['attempts']:g} attempts expected ({p['attempts_per_contact']:g} per "
              f"contact; rates {r['source']}: answered {r['answered']:g}, busy {r['busy']:g},"
              f" no-answer {r['no_answer']:g}, failed {r['failed']:g}; {r['call_s']:g} s "
              "a call)", markup=False, highlight=False)
    bounds = ", ".join(f"{k} {v:g}" for k, v in p["bounds_per_minute"].items())
    out.print(f"{p['contacts_per_minute']:g} contacts per minute while a window is open; "
              f"bound by {', '.join(p['bound_by'])} (per minute: {bounds})", markup=False)
    if p["finish"]:
        out.print(f"starts {p['start']}, finishes {p['finish']} "
                  f"(between {p['finish_low']} and {p['finish_high']})", markup=False)
    table = Table("zone", "window opens", "closes", "contacts", "attempts")
    for w in p["windows"][:50]:
        table.add_row(w["zone"], w["opens"], w["closes"], f"{w['contacts']:g}",
                      f"{w['attempts']:g}")
    if p["windows"]:
        out.print(table)
    days = Table("date", "contacts", "attempts")
    for d in p["days"][:60]:
        days.add_row(d["date"], f"{d['contacts']:g}", f"{d['attempts']:g}")
    if p["days"]:
        out.print(days)
    for note in p["notes"]:
        out.print(f"note: {note}", markup=False)


@campaign.command("report")
@click.argument("campaign_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the per-contact CSV here (default: stdout).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (one object per contact) "
              "instead of CSV.")
@click.pass_context
def report_cmd(ctx: click.Context, campaign_id: str, output: Path | None,
               as_json: bool) -> None:
    """The per-contact CSV: status, every attempt's outcome, talk time."""
    life = _life(ctx)
    s = _do(ctx, summary, life, campaign_id)
    chunks: Iterator[str] = (
        (json.dumps(row) + "\n" for row in contact_rows(life, campaign_id)) if as_json
        else csv_chunks(contact_rows(life, campaign_id)))
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
    else:
        try:
            f = output.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            fail(ValidationError(f"--output {str(output)!r}: cannot be written "
                                  f"({exc.strerror})", field="output"), ctx.obj["debug"])
        with f:
            for chunk in chunks:
                f.write(chunk)
    err.print(f"{s['state']}: {s['finished']} finished of {s['contacts']} · "
              f"{s['by_status']} · answered {s['answered_rate']} · avg talk {s['avg_talk_s']} s")


@campaign.command("dnc")
@click.argument("numbers", nargs=-1)
@click.option("--campaign", "campaign_id", default=None, help="Default: the global list.")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="One number per line.")
@click.option("--remove", is_flag=True, help="Remove the numbers instead of adding them.")
@click.option("--json", "as_json", is_flag=True, help="With no numbers: the list as JSON.")
@click.pass_context
def dnc_cmd(ctx: click.Context, numbers: tuple[str, ...], campaign_id: str | None,
            file: Path | None, remove: bool, as_json: bool) -> None:
    """The do-not-call list (global, or one campaign's): with no numbers, list it; with
    numbers, add them (or --remove them)."""
    values = list(numbers)
    if file is not None:
        values += [line.split(",")[0].strip() for line in file.read_text().splitlines()
                   if line.strip() and line.strip().lower() != "number"]
    life = _life(ctx)
    if not values:
        if remove:
            fail(ValidationError("--remove: name the numbers to remove", field="numbers"),
                 ctx.obj.get("debug", False))
        listed = _do(ctx, life.repo.dnc_numbers, campaign_id)
        if as_json:
            click.echo(json.dumps({"numbers": listed}))
        for n in [] if as_json else listed:
            click.echo(n)
        return
    normalised = [_do(ctx, normalize, v, field="number") for v in values]
    if remove:
        click.echo(f"{_do(ctx, life.repo.remove_dnc, normalised, campaign_id)} removed")
    else:
        click.echo(f"{_do(ctx, life.repo.add_dnc, normalised, campaign_id)} added")
