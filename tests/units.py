"""Helpers shared by the unit tests of the worker's decisions (a real Redis, fakes of
Exotel that satisfy our Protocols)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from dialer.settings import Settings, load_settings
from dialer.store import Store

ACCOUNT = {"name": "main", "sid": "AC", "api_key": "k", "api_token": "t",
           "caller_id": "08030752400"}


def unit_settings(**kw: Any) -> Settings:
    """Settings with one account (``main``), overridden by ``kw``."""
    return load_settings(**{"accounts": [ACCOUNT], **kw})


@pytest.fixture()
def store(r: redis.Redis) -> Store:
    return Store(r)
