"""The rules that decide what an event means: lateness, sessions. One object, passed to every transform."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class PipelineRules:
    """Defaults are the usual product-analytics ones; every one is configurable (see README)."""

    lateness: timedelta = timedelta(days=3)
    session_timeout: timedelta = timedelta(minutes=30)
    max_session_length: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.lateness < timedelta(0):
            raise ValueError("the lateness window cannot be negative")
        if self.session_timeout <= timedelta(0) or self.max_session_length <= timedelta(0):
            raise ValueError("session timeout and maximum length must be positive")

    @property
    def lateness_days(self) -> int:
        """Received days after an event's day that can still hold it on time."""
        return -(-self.lateness // timedelta(days=1))


def interval_ms(delta: timedelta) -> str:
    """A SQL interval literal, exact to the millisecond."""
    return f"INTERVAL '{delta // timedelta(milliseconds=1)} milliseconds'"


def event_time_sql() -> str:
    """The event's time: the skew-corrected timestamp, never later than its receipt (clamped)."""
    return "least(timestamp, received_at)"


def assigned_date_sql(rules: PipelineRules) -> str:
    """The day whose cleaning handles a raw row: its event's day, or for a too-late event its receipt day.

    Too-late rows are quarantined by the cleaning of the day they arrived, so every raw row belongs
    to exactly one cleaning partition within a bounded window of received days.
    """
    return (
        f"CASE WHEN received_at - {event_time_sql()} > {interval_ms(rules.lateness)} "
        f"THEN received_date ELSE CAST({event_time_sql()} AS DATE) END"
    )
