"""Monitoring: readable Flower rows, domain metrics for Prometheus, the live status page.

* :mod:`dialer.monitor.labels` — how a call is named for a person (masked number).
* :mod:`dialer.monitor.fold` — the events stream folded into counters (one Lua script).
* :mod:`dialer.monitor.collector` — the Prometheus collector (reads Redis at scrape time).
* :mod:`dialer.monitor.snapshot` — the figures of the live page.
* :mod:`dialer.monitor.router` — ``/metrics``, ``/status``, ``/v1/monitor/status``, ``/docs``.
"""
