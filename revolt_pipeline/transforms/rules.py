"""The rules that decide what an event means: lateness, sessions, and the days each step reads.

One object, passed to every transform, to the Dagster definitions (their partition mappings) and to the
cascade (which days to rebuild): so changing the lateness changes what cleaning reads, the lineage the
UI draws and the days a late event reopens, together.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the funnels' module brings DuckDB: settings and the collector import these rules
    from revolt_pipeline.transforms.funnels import Funnel

from revolt_pipeline.transforms.pii import PiiRules
from revolt_pipeline.transforms.report_text import REPORT_TEXT_CHARS


@dataclass(frozen=True)
class DayWindow:
    """The days a step building day D reads: from `before` days earlier to `after` days later."""

    before: int
    after: int

    def __post_init__(self) -> None:
        if self.before < 0 or self.after < 0:
            raise ValueError("a window's offsets count days away from the day; they cannot be negative")

    def days(self, day: date) -> list[date]:
        return [day + timedelta(days=offset) for offset in range(-self.before, self.after + 1)]

    def readers(self, day: date) -> list[date]:
        """The days whose step reads `day`: what must be built again when `day` changes."""
        return [day + timedelta(days=offset) for offset in range(-self.after, self.before + 1)]


@dataclass(frozen=True)
class PipelineRules:
    """Defaults are the usual product-analytics ones; every one is configurable (see README)."""

    lateness: timedelta = timedelta(days=3)
    session_timeout: timedelta = timedelta(minutes=30)
    max_session_length: timedelta = timedelta(hours=24)
    mau_window_days: int = 30
    # The funnels of REVOLT_FUNNELS_FILE (transforms/funnels.py); their longest window sets `funnel_window`.
    funnels: tuple["Funnel", ...] = ()
    # Anchored retention's events (by name); None: the first_seen definition's start (first seen) or return (any).
    retention_start_event: str | None = None
    retention_return_event: str | None = None
    # Trait and property keys cleaning hashes or drops, with the salt of the pseudonyms (transforms/pii.py).
    pii: PiiRules = field(default_factory=PiiRules)

    def __post_init__(self) -> None:
        if self.lateness < timedelta(0):
            raise ValueError("the lateness window cannot be negative")
        if self.mau_window_days < 7:
            raise ValueError("the MAU window must be at least the 7 days of WAU")
        if self.session_timeout <= timedelta(0) or self.max_session_length <= timedelta(0):
            raise ValueError("session timeout and maximum length must be positive")
        for event in (self.retention_start_event, self.retention_return_event):
            # Recorded on every retention row: it must fit the report column, as a client's event name does.
            if event is not None and (not event or len(event) > REPORT_TEXT_CHARS["event_name"] or "\x00" in event):
                raise ValueError(
                    f"a retention event must be an event name of 1 to {REPORT_TEXT_CHARS['event_name']} characters "
                    f"without NUL, not {event[:80]!r}"
                )

    @property
    def lateness_days(self) -> int:
        """Received days after an event's day that can still hold it on time."""
        return -(-self.lateness // timedelta(days=1))

    @property
    def cleaning_window(self) -> DayWindow:
        """Received days whose raw rows can matter to an event day: on-time arrivals up to the lateness
        window after it, and the day before, where the first delivery of a message kept on a neighbouring
        event day may sit."""
        return DayWindow(before=1, after=self.lateness_days)

    @property
    def session_window(self) -> DayWindow:
        """Event days whose cleaned events the sessions of a day can contain or depend on: as many days after
        as the longest session can reach (one starting late on D runs into D+1; sessions are never split at
        midnight), and as many before, where the session of the day's first events may have started."""
        days = max(1, -(-self.max_session_length // timedelta(days=1)))
        return DayWindow(before=days, after=days)

    @property
    def actives_window(self) -> DayWindow:
        """Person days the active users of a day read: the MAU window ending on the day (WAU's and DAU's within)."""
        return DayWindow(before=self.mau_window_days - 1, after=0)

    @property
    def funnel_window(self) -> DayWindow:
        """Event days the funnels of a day read: the day (whose step-1 events start attempts) and as many days
        after as the longest conversion window reaches, since an attempt starting at 23:59 completes then. A
        day's funnels change when any of those days does: see `funnel_days_to_rebuild`."""
        longest = max((funnel.window for funnel in self.funnels), default=timedelta(0))
        return DayWindow(before=0, after=-(-longest // timedelta(days=1)))

    def funnel_days_to_rebuild(self, event_dates: set[date]) -> set[date]:
        """The funnel days to build again when the sessionized events of `event_dates` changed: each of those
        days, and the days before it whose attempts' windows reach it."""
        return {reader for day in event_dates for reader in self.funnel_window.readers(day)}

    @property
    def anchored_retention(self) -> bool:
        """Whether retention is computed anchored on configured events too (besides first seen)."""
        return self.retention_start_event is not None or self.retention_return_event is not None

    def days_to_rebuild(self, event_dates: set[date]) -> set[date]:
        """The cleaned layer's days to build again when raw rows of `event_dates` changed: those days'
        events, and the sessions (and their aggregates) of every day that reads them."""
        return {reader for day in event_dates for reader in self.session_window.readers(day)} | set(event_dates)

    def days_to_clean(self, received_dates: set[date], event_dates: set[date]) -> set[date]:
        """The cleaned layer's days to build after the raw days `received_dates`, whose rows belong to
        `event_dates`: those days to rebuild, and each received day's own event day, so a day on which nothing
        arrived is built empty rather than left missing (its own day only: with no event, no session changed)."""
        return self.days_to_rebuild(event_dates) | set(received_dates)


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
