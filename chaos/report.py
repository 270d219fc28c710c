"""The chaos table in Markdown, written into a file between its markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START, END = "<!-- chaos:start -->", "<!-- chaos:end -->"

COLUMNS = [
    ("scenario", "scenario"), ("calls", "calls"), ("posts", "POSTs"),
    ("exotel_calls", "Exotel calls"), ("posted_twice", "POSTed twice"), ("lost", "lost"),
    ("unknown", "unknown"), ("unknown_created", "unknown, created by Exotel"),
    ("agents_held", "agents held after the end"),
    ("workers_died", "workers died"), ("still_pending", "still pending"),
    ("over_limit", "limit violations"), ("max_in_window", "max in any window"),
    ("http_429", "429s"), ("retries_on_429", "retries spent on 429s"),
    ("missed_retries", "missed retries"), ("status_mismatch", "status ≠ truth"),
    ("seconds", "s"),
]


def markdown(rows: list[dict[str, Any]], machine: str, calls: int) -> list[str]:
    lines = [f"Measured by `make chaos` (`.venv/bin/python -m chaos --calls {calls}`) on "
             f"{machine}.", "",
             "| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---:|" * (len(COLUMNS) - 1)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |")
    lines += ["", "| scenario | what broke | during the run |", "|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['what']} | {r['note']} |" for r in rows]
    return lines


def kept_rows(body: str, rerun: set[str]) -> list[dict[str, Any]]:
    """Rows of an earlier table (between the markers) whose scenario was not run again."""
    figures: dict[str, dict[str, Any]] = {}
    notes: dict[str, tuple[str, str]] = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or cells[0] in ("scenario", "") or cells[0] in rerun:
            continue
        if len(cells) == len(COLUMNS):
            figures[cells[0]] = dict(zip((k for k, _ in COLUMNS), cells, strict=True))
        elif len(cells) == 3:
            notes[cells[0]] = (cells[1], cells[2])
    return [{**row, "what": notes.get(name, ("", ""))[0], "note": notes.get(name, ("", ""))[1]}
            for name, row in figures.items()]


def write_docs(path: Path, rows: list[dict[str, Any]], machine: str, calls: int) -> None:
    """Write the table; rows of scenarios not in ``rows`` are kept from the last run."""
    text = path.read_text() if path.exists() else f"# Reliability\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    old, tail = rest.split(END, 1)
    rows = kept_rows(old, {r["scenario"] for r in rows}) + rows
    body = "\n".join(markdown(rows, machine, calls))
    path.write_text(f"{head}{START}\n{body}\n{END}{tail}")
