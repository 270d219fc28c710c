"""The fidelity table: what the simulator does by default, and the document it follows.

One row per behaviour: ``(behaviour, default, source)``. ``dialer simulator --help`` prints
it, the README's simulator section carries the same rows, and tests/exotel_sim/
test_simulator_fidelity.py holds one contract test per row. Seeds are the files in
shared/seeds/ (000..004); URLs are Exotel's developer documentation.
"""

from __future__ import annotations

S000 = "seed 000"
S001 = "seed 001"
S002 = "seed 002"
S003 = "seed 003"
S004 = "seed 004"
DOC_CALLBACK = "developer.exotel.com/docs/voice-v1/api-reference/status-callback"
DOC_WEBHOOKS = "developer.exotel.com/docs/references/webhooks"
DOC_LIMITS = "developer.exotel.com/docs/advanced-config/rate-limiting"
DOC_DETAILS = "developer.exotel.com/docs/voice-v1/api-reference/call-details"
DOC_BULK = "developer.exotel.com/api/call-details-bulk"
DOC_DND = "support.exotel.com 'How do I call on DND numbers' + a real 403 quoted by a client"

ROWS: list[tuple[str, str, str]] = [
    ("v1 StatusCallback fields without StatusCallbackEvents",
     "CallSid, DateUpdated, Status, RecordingUrl only", f"{S000}, {S003}, {DOC_CALLBACK}"),
    ("v1 StatusCallback fields with StatusCallbackEvents (terminal/answered)",
     "+ EventType, DateCreated, To, From, PhoneNumberSid, StartTime, EndTime, "
     "ConversationDuration, Direction, CustomField, Legs[{OnCallDuration, Status}]",
     DOC_CALLBACK),
    ("v1 'answered' callback", "only when StatusCallbackEvents has answered", DOC_CALLBACK),
    ("v1 StatusCallback content type",
     "multipart/form-data; application/json with StatusCallbackContentType", f"{S003}, {S004}"),
    ("v3 status_callback body", "{event_details: {event_type}, call_details: {…}} per "
     "status_callback[] entry (event, url, method, content_type)", S002),
    ("callback answer expected", "2xx within 15 s (--callback-timeout-s)", DOC_WEBHOOKS),
    ("callback retries", "2 more tries after a timeout / error / non-2xx "
     "(--callback-retries; --callback-retry-delay-s 2 s, not documented)", DOC_WEBHOOKS),
    ("account limit", "200 Voice API requests per 60 s per account: call POSTs, v1 details, "
     "bulk details, v3 details and legs (--limit-calls, --limit-window-s, --limit-scope all)",
     f"{S000}, {S003}, {DOC_LIMITS}"),
    ("429 answer", "v1 RestException 'Rate limit exceeded. Max 200 requests per minute.', "
     "v3 429/10724; Retry-After (s), X-RateLimit-Limit, X-RateLimit-Remaining, "
     "X-RateLimit-Reset (epoch s when a slot frees)", f"{S004}, {S002}, {DOC_LIMITS}"),
    ("DND (NDNC) number", "403; v1 'Call to [<n>] can not be made because of TRAI NDNC "
     "regulations…'; v3 403/403 (no documented code); suffix 94 or --dnd-number "
     "(--no-dnd-check turns it off)", DOC_DND),
    ("flow Url forms", "http(s)://my.exotel.com/<sid>/exoml/start_voice/<app>, "
     "http(s)://my.exotel.(in|com)/exoml/start/<app>; other host or sid: 400",
     f"{S001}, {S003}, exotel (PyPI) client"),
    ("TimeOut", "1..60 s, else 400", S003),
    ("TimeLimit", "1..14400 s, else 400", f"{S000}, {S004}"),
    ("CustomField", "at most 128 characters, else 400", S004),
    ("WaitUrl / StartPlaybackValueNew / StreamUrl / StreamBegin",
     "http(s) URL / http(s) URL / ws(s) URL / Leg1Connect|Leg2Connect, else 400", S004),
    ("call status", "queued -> ringing -> in-progress -> completed|busy|no-answer|failed "
     "(canceled: sim.cancel); the creating POST answers in-progress",
     f"{S000}, {S004}, {DOC_BULK}"),
    ("v1 details=true", "Details {ConversationDuration, Leg1Status, Leg2Status, "
     "Legs [{Leg: {Id, OnCallDuration}}]}", DOC_DETAILS),
    ("Duration / Price / EndTime", "empty until 120 s (scaled) after the end "
     "(--duration-fill-delay-s)", S004),
    ("bulk call details", "GET /v1/Accounts/<sid>/Calls[.json]: ended calls only; Sid<=100, "
     "To/From/PhoneNumber<=5, DateCreated range<=1 month (default last 31 days), "
     "PageSize 50 (<=100), SortBy, Before/After cursors; Metadata + Calls; no CustomField",
     f"{DOC_BULK}, {DOC_DETAILS}"),
    ("v3 errors", "401/1010, 404/1017, 400/1001, 400/1002, 404/10716, 409/10706 busy, "
     "405/10712 sip: without --voip-enabled, 500/1100, 404/1021 details, 404/10744 legs; "
     "--v3-fault create=1012|10705|10703|10706|10712|10731|10806|10702, "
     "details=1021|1022, legs=10743|10715|10724", S002),
    ("v1 errors", "RestException {Status, Message}: 400 Invalid Call Parameters…, "
     "401, 404 No matching results, 429, 500", f"{S000}, {S003}, {S004}"),
    ("timestamps", "v1 YYYY-MM-DD HH:MM:SS, v3 …+05:30, in IST (utc_offset_minutes 330)",
     f"{S000}, {S002}"),
]


def as_text() -> str:
    """The table for ``--help`` (click keeps the lines as they are after a \\b line)."""
    lines = ["\b", "Fidelity (behaviour: default [source]):"]
    lines += [f"  - {behaviour}: {default} [{source}]" for behaviour, default, source in ROWS]
    return "\n".join(lines)


def as_markdown() -> str:
    out = ["| behaviour | default | source |", "|---|---|---|"]
    out += [f"| {b} | {d} | {s} |" for b, d, s in ROWS]
    return "\n".join(out)
