"""Write measured figures into a Markdown file between markers, keeping what was not re-run.

The block between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` holds each
benchmark's raw JSON line in an HTML comment and the tables made from them; a run that
skips a benchmark (``--real`` is optional) keeps that benchmark's previous figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.summary import flat, summary

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
_DATA = re.compile(r"^<!-- bench:data (\{.*\}) -->$", re.MULTILINE)

ROW_COLUMNS = [
    ("method", "method"), ("processes", "processes"), ("clocks", "clocks"),
    ("limit", "limit"), ("posts", "POSTs"), ("max_in_window", "max in any window"),
    ("posts_over_limit", "POSTs over the limit"), ("http_429", "429s"),
    ("utilisation", "utilisation"),
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _rows_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = ROW_COLUMNS
    if not any("method" in row for row in rows):  # not the limits: the rows' own figures
        columns = [(k, k) for k in dict.fromkeys(k for row in rows for k in row)]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            if key == "utilisation" and isinstance(value, int | float):
                value = f"{value:.1%}"
            cells.append(_fmt(value))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _figures_table(result: dict[str, Any]) -> list[str]:
    lines = ["| figure | value |", "|---|---:|"]
    for key, value in flat(result).items():
        if key not in ("bench", "machine", "command") and not isinstance(value, list):
            lines.append(f"| {key} | {_fmt(value)} |")
    return lines


def section(result: dict[str, Any]) -> list[str]:
    machine = f" — {result['machine']}" if result.get("machine") else ""
    lines = [f"### {result['bench']}", "", f"`{result.get('command', '')}`{machine}", ""]
    if isinstance(result.get("rows"), list):
        lines += _rows_table(result["rows"])
        extra = {k: v for k, v in result.items() if k != "rows"}
        if len(extra) > 3:
            lines += ["", *_figures_table(extra)]
    else:
        lines += _figures_table(result)
    return [*lines, ""]


def previous(text: str) -> dict[str, dict[str, Any]]:
    return {d["bench"]: d for d in (json.loads(m) for m in _DATA.findall(text))}


def update(path: Path, results: list[dict[str, Any]], order: list[str]) -> None:
    """Merge ``results`` into the block of ``path`` (created if missing)."""
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    merged = previous(text)
    merged.update({r["bench"]: r for r in results})
    names = [n for n in order if n in merged] + sorted(set(merged) - set(order))
    body = [f"<!-- bench:data {json.dumps(merged[n], sort_keys=True)} -->" for n in names]
    machines = sorted({str(merged[n].get("machine")) for n in names if merged[n].get("machine")})
    body += ["", f"Machine: {'; '.join(machines)}.", "", *summary([merged[n] for n in names]),
             ""]
    for name in names:
        body += section(merged[name])
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + START + "\n" + "\n".join(body) + END + tail)
