"""The README stays true: the two commands, the settings table, the task names."""

from __future__ import annotations

import re
from pathlib import Path

from dialer import publisher
from dialer.settings_doc import settings_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_two_commands_come_first() -> None:
    head = README[:800]
    assert "make demo" in head and "make test" in head


def test_settings_table_is_generated_from_the_model() -> None:
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", README, re.S)
    assert block, "settings markers missing"
    assert block.group(1) == settings_table(), "run: python -m dialer.settings_doc"


def test_every_task_name_is_documented() -> None:
    for name in (publisher.PLACE_CALL, publisher.ENQUEUE_CALL, publisher.RECONCILE,
                 publisher.PUMP_DUE, publisher.SWEEP, publisher.POLL_CALLS,
                 publisher.CAMPAIGN_TICK):
        assert f"`{name}`" in README
