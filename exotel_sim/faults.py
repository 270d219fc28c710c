"""Seeded dice for the fault switches (kept apart from the outcome dice)."""

from __future__ import annotations

import random
import threading


class Dice:
    """Thread-safe seeded random numbers."""

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(None if seed is None else seed + 7919)

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng = random.Random(None if seed is None else seed + 7919)

    def chance(self, ratio: float) -> bool:
        """True with probability ``ratio`` (0 never rolls, 1 always hits)."""
        if ratio <= 0:
            return False
        if ratio >= 1:
            return True
        with self._lock:
            return self._rng.random() < ratio

    def uniform(self, low: float, high: float) -> float:
        if high <= low:
            return low
        with self._lock:
            return self._rng.uniform(low, high)
