"""The filters a dashboard URL carries (`from`, `to`, `platform`, `app_version`), parsed and resolved to a period.

A URL reproduces a view: the filters are read from the query string only, never from a session. A value that
cannot be read (a date that is no date) is reported on the page and left out, never a server error.
"""

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from urllib.parse import urlencode

from revolt_pipeline.dashboard.urls import FILTERS

DEFAULT_DAYS = 28  # four whole weeks: weekday effects cancel out in the change against the period before
MAX_TEXT = 200  # longer than any platform or app version the report tables hold (report_text.py)
MAX_DAYS = 3 * 366  # a page shows at most this many days: a wider range is cut to its last days
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)  # days outside are typing errors, not analytics


@dataclass(frozen=True)
class Filters:
    """What the query string asked for; None where it asked nothing (the page's default applies)."""

    first: date | None = None
    last: date | None = None
    platform: str | None = None
    app_version: str | None = None
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_query(cls, query: dict[str, str]) -> "Filters":
        errors: list[str] = []

        def day(name: str) -> date | None:
            text = query.get(name, "").strip()
            if not text:
                return None
            try:
                value = date.fromisoformat(text)
            except ValueError:
                errors.append(f"`{name}` must be a day such as 2026-11-02, not {text[:40]!r}: left out")
                return None
            if not EARLIEST <= value <= LATEST:
                errors.append(f"`{name}` ({value}) is not between {EARLIEST} and {LATEST}: left out")
                return None
            return value

        def text(name: str) -> str | None:
            value = query.get(name, "").strip()
            if len(value) > MAX_TEXT:
                errors.append(f"`{name}` is longer than {MAX_TEXT} characters: left out")
                return None
            return value or None

        first, last = day("from"), day("to")
        if first and last and first > last:
            errors.append(f"`from` ({first}) is after `to` ({last}): swapped")
            first, last = last, first
        return cls(first, last, text("platform"), text("app_version"), tuple(errors))

    def query(self, **extra: str | None) -> str:
        """The query string of these filters (and `extra` page parameters), without the ones not set."""
        values = {
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "platform": self.platform,
            "app_version": self.app_version,
            **extra,
        }
        assert set(values) >= set(FILTERS)
        return urlencode({name: value for name, value in values.items() if value})

    def without(self, *names: str) -> "Filters":
        fields = {"from": "first", "to": "last", "platform": "platform", "app_version": "app_version"}
        return replace(self, **{fields[name]: None for name in names})


@dataclass(frozen=True)
class Period:
    """The days a page shows (both ends included) and the period of the same length just before it."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def previous(self) -> "Period":
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    @classmethod
    def resolve(cls, filters: Filters, latest: date | None, earliest: date | None = None) -> "Period":
        """The filters' days; where one end is missing, the default: the DEFAULT_DAYS ending on `latest`, the last
        complete day of the report tables (`queries.last_complete_day`; not today: a dashboard over last month's
        data opens on last month), starting no earlier than `earliest`, the first day with data."""
        last = filters.last or latest or date.today()
        first = filters.first or last - timedelta(days=DEFAULT_DAYS - 1)
        if not filters.first and earliest is not None and first < earliest <= last:
            first = earliest
        if first > last:  # `from` alone, after the data's latest day
            last = first + timedelta(days=DEFAULT_DAYS - 1)
        return cls(max(first, last - timedelta(days=MAX_DAYS - 1)), last)
