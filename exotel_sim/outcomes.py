"""How each leg ends: scenario, then magic numbers, then seeded odds.

Magic numbers look at the LAST TWO DIGITS of a number:

* per leg: ``91`` busy, ``92`` no-answer, ``93`` failed, anything else answered;
* the customer's number (To in connect, From in a flow, ``to`` in v3): ``94`` is on the
  DND (NDNC) registry and the POST answers 403 (``dnd_check``; ``dnd_numbers`` adds more);
* per call, on To (flows and v3: on from): ``95`` accept-then-drop (the call is created and
  runs, the HTTP connection is cut before any answer), ``96`` the POST answers 500 and no
  call is created.

A scenario (``{"+919800000001": ["no-answer", "answered"]}``) gives the outcome of the
FIRST leg, one entry per call in which that number is the first leg; numbers are compared
by their last 10 digits. It wins over the magic suffix; once used up, the number falls back
to the suffix, then to the seeded odds.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from exotel_sim.config import OUTCOMES, SimConfig

LEG_MAGIC = {"91": "busy", "92": "no-answer", "93": "failed"}
DND_SUFFIX = "94"  # the customer's number is on the DND (NDNC) registry: 403
DROP_SUFFIX = "95"
ERROR_SUFFIX = "96"


def digits(number: str | None) -> str:
    """Only the digits of ``number``."""
    return "".join(ch for ch in number or "" if ch.isdigit())


def number_key(number: str | None) -> str:
    """The last 10 digits: how numbers are compared."""
    return digits(number)[-10:]


def suffix(number: str | None) -> str:
    """The last two digits."""
    return digits(number)[-2:]


def magic_leg_outcome(number: str | None) -> str | None:
    """busy / no-answer / failed for a magic suffix, else None."""
    return LEG_MAGIC.get(suffix(number))


def call_fault(number: str | None) -> str | None:
    """``"drop"`` (95), ``"error"`` (96) or None."""
    end = suffix(number)
    return {DROP_SUFFIX: "drop", ERROR_SUFFIX: "error"}.get(end)


def parse_scenario(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Validate ``{"numbers": {...}}`` or a bare ``{number: [outcomes]}`` mapping."""
    numbers = data.get("numbers", data) if isinstance(data, Mapping) else None
    if not isinstance(numbers, Mapping):
        raise ValueError('a scenario is {"numbers": {"<number>": ["busy", ...]}}')
    out: dict[str, list[str]] = {}
    for number, seq in numbers.items():
        if isinstance(seq, str):
            seq = [seq]
        if not isinstance(seq, list) or not number_key(str(number)):
            raise ValueError(f"bad scenario entry for {number!r}")
        bad = [item for item in seq if item not in OUTCOMES]
        if bad:
            raise ValueError(f"unknown outcome(s) {bad} for {number}; use {list(OUTCOMES)}")
        out[str(number)] = list(seq)
    return out


class OutcomeDecider:
    """Picks leg outcomes; thread-safe, deterministic for a given seed and call order."""

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._scenario: dict[str, deque[str]] = {}
        self._display: dict[str, str] = {}

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def set_scenario(self, numbers: dict[str, list[str]]) -> None:
        with self._lock:
            self._scenario = {number_key(n): deque(seq) for n, seq in numbers.items()}
            self._display = {number_key(n): n for n in numbers}

    def scenario(self) -> dict[str, list[str]]:
        """What is left of the scenario, by the numbers as given."""
        with self._lock:
            return {self._display[k]: list(seq) for k, seq in self._scenario.items()}

    def clear(self) -> None:
        self.set_scenario({})

    def leg_outcomes(self, numbers: list[str], cfg: SimConfig) -> list[str]:
        """One outcome per leg number (the first leg may be scripted by the scenario)."""
        odds = [cfg.leg1_outcomes or cfg.outcomes, cfg.leg2_outcomes or cfg.outcomes]
        with self._lock:
            out = []
            for index, number in enumerate(numbers):
                scripted = self._take(number) if index == 0 else None
                out.append(scripted or magic_leg_outcome(number) or self._draw(odds[index]))
            return out

    def _take(self, number: str) -> str | None:
        seq = self._scenario.get(number_key(number))
        return seq.popleft() if seq else None

    def _draw(self, odds: dict[str, float]) -> str:
        names = [name for name in OUTCOMES if odds.get(name, 0) > 0]
        if len(names) == 1:
            return names[0]
        return self._rng.choices(names, weights=[odds[n] for n in names])[0]
