"""The dialer's domain metrics for Prometheus, read from Redis at scrape time.

A custom collector: every scrape reads Redis (:class:`~dialer.monitor.snapshot.Reader`),
so the figures are the same from any web process on any host — no per-process state.
Counters come from Redis (the limiter's ``:counts`` hashes, the events fold); gauges are
set sizes and the current rate-limit window. See the README's monitoring section.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dialer.monitor.fold import DELAY_BUCKETS_S
from dialer.monitor.snapshot import Figures, Reader

NO_CAMPAIGN = "none"  # the campaign label of calls outside campaigns


def _camp(value: str) -> str:
    return value or NO_CAMPAIGN


class DialerCollector(Collector):
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        f = self.reader.read()
        yield from _exotel(f)
        yield from _sets(f)
        yield from _folded(f)
        yield from _campaigns(f)


def _exotel(f: Figures) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "dialer_exotel_requests", "Exotel requests admitted by the account's budget "
        "(dial = call POSTs, lookup = call-details / legs GETs: polls, evidence, unknowns)",
        labels=["account", "kind"])
    http_429 = CounterMetricFamily("dialer_exotel_429", "429 answers from Exotel",
                                   labels=["account"])
    window = GaugeMetricFamily("dialer_ratelimit_window_requests",
                               "Requests in the account's current sliding window",
                               labels=["account", "kind"])
    limit = GaugeMetricFamily("dialer_ratelimit_limit",
                              "Requests the dialer admits per window", labels=["account"])
    window_s = GaugeMetricFamily("dialer_ratelimit_window_seconds",
                                 "Length of the sliding window", labels=["account"])
    cooling = GaugeMetricFamily("dialer_ratelimit_cooling_down",
                                "1 while the account waits out a 429", labels=["account"])
    for a in f.accounts:
        requests.add_metric([a.name, "dial"], a.dials_total)
        requests.add_metric([a.name, "lookup"], a.lookups_total)
        http_429.add_metric([a.name], a.http_429_total)
        window.add_metric([a.name, "dial"], a.dials_in_window)
        window.add_metric([a.name, "lookup"], a.lookups_in_window)
        limit.add_metric([a.name], a.limit)
        window_s.add_metric([a.name], a.window_s)
        cooling.add_metric([a.name], 1 if a.cooling_down else 0)
    yield from (requests, http_429, window, limit, window_s, cooling)


def _sets(f: Figures) -> Iterator[Metric]:
    sets = GaugeMetricFamily("dialer_attempts_in_set", "Attempts in each working set "
                             "(due: waiting for their time; unknown: POST outcome unknown; "
                             "unresolved: unknown, given up on)", labels=["set"])
    for name, n in f.sets.items():
        if name != "calls":
            sets.add_metric([name], n)
    yield sets
    yield GaugeMetricFamily("dialer_calls_stored", "Calls held in Redis", value=f.sets["calls"])
    yield GaugeMetricFamily("dialer_due_overdue_attempts",
                            "Due attempts whose time has come (not yet sent)",
                            value=f.due_overdue)
    yield GaugeMetricFamily("dialer_due_oldest_overdue_seconds",
                            "How long the oldest overdue attempt has waited past its time",
                            value=f.due_oldest_overdue_s)
    queues = GaugeMetricFamily("dialer_celery_queue_length", "Messages in each Celery queue",
                               labels=["queue"])
    for q, n in f.queues.items():
        queues.add_metric([q], n)
    yield queues
    yield CounterMetricFamily("dialer_campaign_ticks", "Campaign ticks run",
                              value=f.campaign_ticks)


def _folded(f: Figures) -> Iterator[Metric]:
    created = CounterMetricFamily("dialer_calls_created", "Calls created",
                                  labels=["account", "campaign"])
    attempts = CounterMetricFamily(
        "dialer_attempts", "Attempts by what they reached (placed, unknown, rejected, "
        "cancelled, completed, busy, no-answer, failed, absent)",
        labels=["account", "campaign", "outcome"])
    finished = CounterMetricFamily("dialer_calls_finished", "Calls ended, by final status",
                                   labels=["account", "campaign", "outcome"])
    retries = CounterMetricFamily("dialer_retries", "Retries scheduled",
                                  labels=["account", "campaign"])
    unresolved = CounterMetricFamily("dialer_unknown_given_up",
                                     "Unknown attempts given up on (check them by hand)",
                                     labels=["account", "campaign"])
    waits = CounterMetricFamily("dialer_waits", "Attempts put back to wait, by reason",
                                labels=["account", "reason"])
    delays: dict[str, dict[str, int]] = {}
    for key, value in f.counters.items():
        kind, rest = key[0], key[1:]
        if kind == "created" and len(rest) == 2:
            created.add_metric([rest[0], _camp(rest[1])], value)
        elif kind == "attempt" and len(rest) == 3:
            attempts.add_metric([rest[0], _camp(rest[1]), rest[2]], value)
        elif kind == "call" and len(rest) == 3:
            finished.add_metric([rest[0], _camp(rest[1]), rest[2]], value)
        elif kind == "retry" and len(rest) == 2:
            retries.add_metric([rest[0], _camp(rest[1])], value)
        elif kind == "unresolved" and len(rest) == 2:
            unresolved.add_metric([rest[0], _camp(rest[1])], value)
        elif kind == "wait" and len(rest) == 2:
            waits.add_metric(list(rest), value)
        elif kind.startswith("delay") and rest:
            delays.setdefault(rest[0], {})["|".join((kind, *rest[1:]))] = value
    yield from (created, attempts, finished, retries, unresolved, waits)
    hist = HistogramMetricFamily(
        "dialer_post_to_final_seconds",
        "From an attempt's POST to its final status (callback or poll), placed attempts",
        labels=["account"])
    for account, d in sorted(delays.items()):
        count = d.get("delay_count", 0)
        buckets = [(f"{b:g}", d.get(f"delay|{b:g}", 0)) for b in DELAY_BUCKETS_S]
        buckets.append(("+Inf", count))
        hist.add_metric([account], buckets, d.get("delay_sum_ms", 0) / 1000)
    yield hist


def _campaigns(f: Figures) -> Iterator[Metric]:
    info = GaugeMetricFamily("dialer_campaign_state", "1 for the campaign's state",
                             labels=["campaign", "account", "state"])
    gauges = {name: GaugeMetricFamily(f"dialer_campaign_{name}", text, labels=["campaign"])
              for name, text in (
                  ("contacts", "Contacts imported"),
                  ("done", "Contacts finished or not dialled"),
                  ("pending", "Contacts not yet taken"),
                  ("live", "Calls taken and not yet final"),
                  ("progress_ratio", "done / contacts"),
                  ("attempts", "Attempts made"),
              )}
    agents = GaugeMetricFamily("dialer_campaign_agents", "Agents of the campaign",
                               labels=["campaign", "state"])
    waiting = GaugeMetricFamily("dialer_campaign_waiting", "1 while the campaign cannot dial, "
                                "with the reason", labels=["campaign", "reason"])
    for c in f.campaigns:
        cid = c["id"]
        info.add_metric([cid, c.get("account") or "", c["state"]], 1)
        for name in ("contacts", "done", "pending", "live", "attempts"):
            gauges[name].add_metric([cid], c.get(name) or 0)
        gauges["progress_ratio"].add_metric([cid], c.get("progress") or 0.0)
        agents.add_metric([cid, "busy"], c.get("agents_busy", 0))
        agents.add_metric([cid, "idle"], c.get("agents_idle", 0))
        if c.get("waiting_because"):
            waiting.add_metric([cid, c["waiting_because"]], 1)
    yield info
    yield from gauges.values()
    yield agents
    yield waiting
