"""The headline figures of each benchmark, one Markdown row each: what, figure, command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str]


def _n(value: Any, digits: int = 0) -> str:
    return f"{float(value):,.{digits}f}"


def _limits(r: dict[str, Any]) -> list[Row]:
    out = []
    for row in r["rows"]:
        n = int(row["processes"])
        what = f"{row['method']}, {n} process{'es' if n > 1 else ''}, clocks {row['clocks']}"
        figure = (f"max **{row['max_in_window']}** POSTs in any window (limit {row['limit']}), "
                  f"{row['http_429']} × 429, utilisation {row['utilisation']:.1%}")
        out.append((what, figure))
    return out


def _dispatch(r: dict[str, Any]) -> list[Row]:
    rows = [(f"dispatch overhead ({r['pool']})",
             f"{_n(r['calls_per_s'])} calls/s vs {_n(r['noop_tasks_per_s'])} no-op tasks/s: "
             f"ratio **{r['calls_to_noop_ratio']:.2f}**")]
    if "worker_cpu_ms_per_call" in r:
        rows.append(("worker CPU per message (threads x8, 1 worker)",
                     f"{r['worker_cpu_ms_per_call']:.1f} ms per placed call vs "
                     f"{r['worker_cpu_ms_per_noop']:.1f} ms per no-op task: ratio "
                     f"**{r['cpu_calls_to_noop_ratio']:.2f}**"))
    if "dialer_round_trips_per_call" in r:
        rows.append(("Redis per placed call",
                     f"**{r['dialer_round_trips_per_call']:.1f} round trips**, "
                     f"{_n(r['dialer_commands_per_call'])} commands (the dialer's); "
                     f"{_n(r['redis_commands_per_call'])} commands with Celery's vs "
                     f"{_n(r['redis_commands_per_noop'])} per no-op task"))
    if "dialer_round_trips_per_call_without_counting" in r:
        rows.append(("Redis per placed call, contact counting off",
                     f"**{r['dialer_round_trips_per_call_without_counting']:.1f} round "
                     f"trips**, {_n(r['dialer_commands_per_call_without_counting'])} "
                     "commands (the dialer's)"))
    return rows


def _enqueue(r: dict[str, Any]) -> list[Row]:
    return [(f"enqueue, bulk ({_n(r['bulk_calls'])} calls)",
             f"**{_n(r['bulk_calls_per_s'])} calls/s** ({r['bulk_seconds']:.1f} s, "
             f"{_n(r['redis_bytes_per_queued_call'])} B of Redis per call)"),
            (f"enqueue, single ({_n(r['single_calls'])} calls, one message each)",
             f"**{_n(r['single_calls_per_s'])} calls/s**")]


def _latency(r: dict[str, Any]) -> list[Row]:
    return [("enqueue → POST, single path, idle",
             f"p50 **{r['single_p50_ms']:.1f} ms**, p99 {r['single_p99_ms']:.1f} ms "
             f"({r['single_samples']} calls)"),
            (f"enqueue → POST, bulk path (pump every {r['pump_interval_s']:g} s), idle",
             f"p50 **{r['bulk_p50_ms']:.0f} ms**, p99 {r['bulk_p99_ms']:.0f} ms "
             f"({r['bulk_samples']} calls)")]


def _due_memory(r: dict[str, Any]) -> list[Row]:
    counts = sorted({int(k.split("@")[1]) for k in r if "@" in k})
    rss = ", ".join(f"{_n(r[f'worker_rss_mib@{c}'], 1)} MiB @ {c:,}" for c in counts)
    per = ", ".join(f"{_n(r[f'redis_bytes_per_waiting_call@{c}'])} B @ {c:,}" for c in counts)
    return [("worker RSS with calls waiting in the due set", rss),
            ("Redis memory per waiting call", per)]


def _campaign(r: dict[str, Any]) -> list[Row]:
    rows = []
    for key, value in r.items():
        if isinstance(value, dict) and "rows_per_s" in value:
            figure = f"**{_n(value['rows_per_s'])} contacts/s**"
            if "redis_bytes_per_contact" in value:
                figure += f", {_n(value['redis_bytes_per_contact'])} B of Redis per contact"
            rows.append((f"campaign import ({key.replace('_', ' ')}, {_n(r['rows'])} rows)",
                         figure))
    return rows or _generic(r)


def _agent_gap(r: dict[str, Any]) -> list[Row]:
    out = []
    for row in r["rows"]:
        what = (f"agent idle gap, {row['scenario']}, {row['callbacks_lost']} of callbacks "
                f"lost ({r['agents']} agents, {r['call_s']:g} s calls)")
        bound = f" ({row['open_gaps']} still open at the end)" if row.get("open_gaps") else ""
        out.append((what, f"p50 **{_n(row['gap_p50_ms'])} ms**, p95 **{_n(row['gap_p95_ms'])} "
                          f"ms**, occupancy {row['occupancy']:.0%}{bound}"))
    return out


def flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested figures as ``outer.inner`` keys."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _generic(r: dict[str, Any]) -> list[Row]:
    skip = {"bench", "machine", "command"}
    figures = ", ".join(f"{k} {_n(v, 1) if isinstance(v, float) else v}"
                        for k, v in flat(r).items()
                        if k not in skip and not isinstance(v, list))
    return [(r["bench"], figures)]


HEADLINES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "limits": _limits, "limits_real": _limits, "dispatch": _dispatch, "enqueue": _enqueue,
    "latency": _latency, "due_memory": _due_memory, "campaign_import": _campaign,
    "agent_gap": _agent_gap,
}


def summary(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| benchmark | figure | command |", "|---|---|---|"]
    for r in results:
        try:
            rows = HEADLINES.get(r["bench"], _generic)(r)
        except (KeyError, TypeError, ValueError):
            rows = _generic(r)
        lines += [f"| {what} | {figure} | `{r.get('command', '')}` |" for what, figure in rows]
    return lines
