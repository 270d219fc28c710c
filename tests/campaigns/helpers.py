"""Helpers shared by the campaign tests (no tests here): settings, contacts, finishing calls
through the store's real transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import redis

from dialer.campaigns.lifecycle import Lifecycle
from dialer.models import AttemptState, CallUpdate
from dialer.policy import Decision
from dialer.settings import Settings, load_settings, settings_from_env
from dialer.store import Store

ACCOUNT = {"name": "main", "sid": "AC_SIM", "api_key": "sim_key", "api_token": "sim_token",
           "base_url": "http://127.0.0.1:9", "caller_id": "08030752400"}
IST_NOON = datetime(2024, 1, 3, 6, 30, tzinfo=UTC)  # Wednesday 12:00 in Asia/Kolkata


def settings_for(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"redis_url": redis_url, "accounts": [ACCOUNT],
                              "rate_limit_calls": 1000, "rate_limit_window_s": 60.0,
                              "campaign_tick_s": 1.0}
    values.update(overrides)
    return load_settings(**values)


def life_for(redis_url: str, **overrides: Any) -> Lifecycle:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return Lifecycle.connect(client, settings_for(redis_url, **overrides))


def number(i: int, suffix: str = "10") -> str:
    """A distinct Indian mobile number ending in ``suffix`` (two digits; "…0": no magic)."""
    return f"+9198{i:06d}{suffix}"


def csv_of(numbers: list[str], extra_header: str = "", extra: str = "") -> bytes:
    header = "number" + ("," + extra_header if extra_header else "")
    rows = [n + ("," + extra if extra else "") for n in numbers]
    return ("\n".join([header, *rows]) + "\n").encode()


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "test", "mode": "flow", "app_id": "12345",
                            "pacing": {"calls_per_minute": 600, "max_concurrent": 5}}
    base.update(overrides)
    return base


def campaign_calls(life: Lifecycle, cid: str) -> dict[str, str]:
    """number → call id of every contact dialled so far."""
    values = cast(dict[str, str], life.store.r.hgetall(life.repo.keys.calls(cid)))
    return {n: v for n, v in values.items() if not v.startswith("!")}


def finish(store: Store, call_id: str, status: str = "completed", talk_s: int = 7) -> None:
    """Drive the call's current attempt to ``status`` through the store's transitions."""
    aid = store.get_call(call_id)["current_attempt"]
    claim, _ = store.claim(aid)
    assert claim, f"attempt {aid} could not be claimed"
    assert store.mark_posting(aid, claim)
    store.record_outcome(aid, claim, AttemptState.PLACED, call_sid=f"sid-{aid}")
    update = CallUpdate(status=status, leg1_status=status, talk_time_s=talk_s,
                        call_sid=f"sid-{aid}")
    store.apply_update(aid, update, AttemptState(status), Decision(False, 0.0, "test"))


def settings_of_env(env: dict[str, str]) -> Settings:
    """The settings a stack's processes read from their ``DIALER_*`` environment."""
    return settings_from_env(env)
