"""Time sources: the system clock in production, a settable one for simulated traffic and tests."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to, so a week of traffic can be replayed in seconds.

    Time stands still between calls to `set` or `advance`, which keeps receive times exact and
    reproducible for the demo's ground truth.
    """

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._now = _require_aware(start)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        moment = _require_aware(moment)
        with self._lock:
            if moment < self._now:
                raise ValueError(f"a simulated clock never goes back: {moment} < {self._now}")
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a naive datetime has no time zone: {moment!r}")
    return moment.astimezone(UTC)
