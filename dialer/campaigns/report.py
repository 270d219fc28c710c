"""Progress and reports: a campaign's counts (cheap: counters kept by the tick) and a
per-contact CSV with every attempt's outcome (a scan, streamed in batches)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

from dialer.campaigns.lifecycle import Lifecycle
from dialer.campaigns.queue import Contact
from dialer.campaigns.repo import Campaign
from dialer.store import unwritten_attempt, with_defaults

BATCH = 500
ACTIVE = {"draft", "scheduled", "running", "paused"}
COLUMNS = ("number", "name", "timezone", "custom_field", "status", "call_id", "attempts",
           "outcomes", "call_sids", "talk_time_s", "first_attempt_at", "last_attempt_at",
           "detail", "fields")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def summary(life: Lifecycle, cid: str) -> dict[str, Any]:
    """Counts by status, attempts, answered rate, average talk time, progress."""
    c = life.repo.get(cid)
    pending = sum(life.queue.queue_lengths(cid).values())
    live = int(life.store.r.zcard(life.repo.keys.live(cid)))
    finals = c.final_counts
    finished = sum(finals.values())
    not_dialled = sum(c.count(f) for f in ("not_dialled", "expired", "suppressed_at_dial",
                                           "invalid"))
    contacts = c.count("contacts")
    done = finished + not_dialled
    talked = c.count("talked")
    sched = c.spec.schedule
    return {
        "id": c.id, "name": c.spec.name, "state": c.state.value, "account": c.spec.account,
        "mode": c.spec.mode.value, "template_id": c.fields.get("template_id") or None,
        "recurrence": sched.recurrence, "runs": c.count("runs") if c.is_template else None,
        "next_run_at": _iso(c.time("next_run_ms")) if c.is_template else None,
        "start_at": _iso(sched.start_at), "end_at": _iso(sched.end_at),
        "window": f"{sched.window_start}-{sched.window_end} {sched.days}",
        "timezone": sched.timezone,
        "calls_per_minute": c.spec.pacing.calls_per_minute,
        "max_concurrent": c.spec.pacing.max_concurrent,
        "created_at": _iso(c.time("created_at")), "started_at": _iso(c.time("started_at")),
        "ended_at": _iso(c.time("ended_at")),
        "contacts": contacts, "pending": pending, "live": live, "finished": finished,
        "not_dialled": not_dialled, "done": done,
        "progress": round(done / contacts, 4) if contacts else 0.0,
        "by_status": dict(sorted(finals.items())),
        "attempts": c.count("attempts"),
        "answered_rate": round(finals.get("completed", 0) / finished, 4) if finished else None,
        "avg_talk_s": round(c.count("talk_s") / talked, 1) if talked else None,
        "duplicates": c.count("duplicates"), "suppressed": c.count("suppressed"),
        "suppressed_at_dial": c.count("suppressed_at_dial"),
        "invalid_rows": c.count("invalid_rows"), "invalid": c.count("invalid"),
        "expired": c.count("expired"), "cancelled_before_dial": c.count("not_dialled"),
    }


def _ms_iso(ms: str | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="seconds")


def _row(c: Campaign, contact: Contact, value: str | None, call: dict[str, str],
         attempts: list[dict[str, str]]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": contact.number, "name": contact.name, "timezone": contact.tz,
        "custom_field": contact.custom_field,
        "fields": json.dumps(contact.fields, ensure_ascii=False) if contact.fields else "",
    }
    if value is None:
        pending = c.state.value in ACTIVE
        row["status"] = "pending" if pending else "not-dialled"
        row["detail"] = "" if pending else f"campaign {c.state.value}"
        return row
    if value.startswith("!"):
        row["status"] = "suppressed" if value == "!do-not-call" else "not-dialled"
        row["detail"] = value[1:]
        return row
    ordered = sorted(attempts, key=lambda a: int(a.get("n", "0")))
    talk = next((a.get("talk_time_s") for a in reversed(ordered) if a.get("talk_time_s")), "")
    row.update({
        "status": call.get("final_status") or call.get("state", ""), "call_id": value,
        "attempts": len(ordered), "outcomes": ";".join(a.get("state", "") for a in ordered),
        "call_sids": ";".join(a.get("call_sid", "") for a in ordered),
        "talk_time_s": talk or "",
        "first_attempt_at": _ms_iso(ordered[0].get("claimed_at")) if ordered else "",
        "last_attempt_at": _ms_iso(ordered[-1].get("claimed_at")) if ordered else "",
        "detail": ordered[-1].get("detail", "") if ordered else "",
    })
    return row


def contact_rows(life: Lifecycle, cid: str) -> Iterator[dict[str, Any]]:
    """One row per contact with every attempt's outcome, in batches (any campaign size)."""
    c = life.repo.get(cid)
    tz, r, k = c.spec.schedule.timezone, life.store.r, life.store.keys
    cursor = 0
    while True:
        cursor, batch = cast(tuple[int, dict[str, str]],
                             r.hscan(life.repo.keys.contacts(cid), cursor, count=BATCH))
        numbers = sorted(batch)
        values = life.queue.calls(cid, numbers)
        call_ids = [v for n in numbers if (v := values[n]) and not v.startswith("!")]
        pipe = r.pipeline(transaction=False)
        for call_id in call_ids:
            pipe.hgetall(k.call(call_id))
        raw = dict(zip(call_ids, pipe.execute(), strict=True))
        calls = {i: with_defaults(i, call) for i, call in raw.items() if call}
        for call_id, call in calls.items():
            for i in range(1, int(call.get("attempts") or 1) + 1):
                pipe.hgetall(k.attempt(f"{call_id}-{i}"))
        flat = iter(pipe.execute())
        attempts = {cid_: [next(flat) for _ in range(int(call.get("attempts") or 1))]
                    for cid_, call in calls.items()}
        for cid_, call in calls.items():  # a first attempt not written yet is pending
            if "state" not in raw[cid_] and not any(attempts[cid_]):
                attempts[cid_] = [unwritten_attempt(cid_, call)]
        for n in numbers:
            value = values[n]
            call_id = value if value and value[0] != "!" else ""
            yield _row(c, Contact.from_payload(n, batch[n], tz), value,
                       calls.get(call_id, {}), [a for a in attempts.get(call_id, []) if a])
        if cursor == 0:
            break


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SAFE_COLUMNS = frozenset({"number"})  # validated E.164, written as it is


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with ``= + - @``, a tab or a CR
    gets a leading ``'`` (OWASP's CSV-injection advice); other values are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[dict[str, Any]], chunk_rows: int = BATCH) -> Iterator[str]:
    """The rows as CSV text, a header first, in chunks (for streaming); every cell but
    the validated number neutralised against formula injection (:func:`safe_cell`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow({k: v if k in SAFE_COLUMNS else safe_cell(v) for k, v in row.items()})
        if i % chunk_rows == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
