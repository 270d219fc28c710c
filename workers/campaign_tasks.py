"""The beat-driven campaign tick: start due campaigns and feed them at their pace."""

from __future__ import annotations

import logging
from typing import Any

from dialer import publisher as names
from dialer.campaigns.tick import tick
from workers import context
from workers.app import app
from workers.periodic import exclusive

log = logging.getLogger("dialer.tasks")


@app.task(name=names.CAMPAIGN_TICK, send_events=False)  # housekeeping: see tasks.py
@exclusive(names.CAMPAIGN_TICK)
def campaign_tick() -> dict[str, Any]:
    ctx = context.get(app)
    report = tick(ctx.store, ctx.settings)
    if report.started or report.completed or report.spawned:
        log.info("campaign tick: started %s completed %s spawned %s", report.started,
                 report.completed, report.spawned)
    return {"fed": report.fed, "reaped": report.reaped, "started": report.started,
            "completed": report.completed, "spawned": report.spawned}
