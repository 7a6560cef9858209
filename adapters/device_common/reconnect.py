"""Exponential backoff with a cap, for reconnecting to devices that went offline."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 0.5
    maximum_s: float = 60.0
    factor: float = 2.0
    _failures: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        delay = min(self.initial_s * self.factor**self._failures, self.maximum_s)
        self._failures += 1
        return delay

    def reset(self) -> None:
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures
