"""The README's settings table, generated from the settings model.

    python -m dialer.settings_doc   # prints the table; a test keeps the README in sync
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from dialer.settings import ENV_PREFIX, Settings


def _default(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret, empty)"
    if value in ("", None, []):
        return "(empty)"
    return f"`{value}`"


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        meaning = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | {_default(default)} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(settings_table())
