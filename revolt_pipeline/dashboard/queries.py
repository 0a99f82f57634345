"""What each dashboard page reads from the report database: SQLAlchemy Core over `reports/schema.py`, no SQL text.

Every figure comes from the table of its grain: people counts (DAU, WAU, MAU, new users) from the table of the
filters' grain (all platforms, one platform, one platform's app version), never summed across platforms or days;
additive counts (events, sessions) may be summed over days and breakdown rows. A figure the tables cannot give
for the filters (people of an app version across platforms) is None with a note saying why, never a wrong sum.
A table that does not exist yet reads as empty: the page says what builds it.
"""

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from revolt_pipeline.dashboard.filters import Filters, Period
from revolt_pipeline.reports import schema

TOP_EVENTS = 20
TREND_EVENTS = 5
ALL_EVENTS = "all events"  # the trend's line of every event, beside the top TREND_EVENTS
PEOPLE_PAGE = 50
TIMELINE_DAYS = 90
SESSIONS_PAGE = 50  # a person's sessions per page of their timeline, newest first
AT_RISK = 25
SCORE_BINS = 10
HISTORY_SEGMENTS = 7  # segments with a colour of their own in the sizes over time; the rest are OTHER_SEGMENTS
OTHER_SEGMENTS = "other segments"
APP_VERSION_ACROSS_PLATFORMS = (
    "People counts exist per platform and app version, not per app version across platforms: choose a platform too."
)


class Reader:
    """One request's reads: a connection and the report tables that exist in the database."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        inspector = sa.inspect(connection)
        self.tables = set(inspector.get_table_names()) | set(inspector.get_view_names())

    def has(self, *tables: sa.TableClause) -> bool:
        return all(table.name in self.tables for table in tables)

    def has_columns(self, table: sa.TableClause, *names: str) -> bool:
        """Whether the database's table has these columns: one created by an older version may lack some (the
        loader refuses to load it until it is dropped and built again, but it can still be read)."""
        columns = {column["name"] for column in sa.inspect(self.connection).get_columns(table.name)}
        return set(names) <= columns

    def has_rows(self, table: sa.TableClause) -> bool:
        if not self.has(table):
            return False
        return self.connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None

    def rows(self, statement: sa.Select) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(statement).mappings()]

    def scalar(self, statement: sa.Select) -> Any:
        return self.connection.execute(statement).scalar()


# ---- what the filters offer, and the data's latest day


def last_complete_day(reader: Reader) -> date | None:
    """Where the default period ends: the last complete day, the day before the latest day with events.

    The latest day with events is rarely whole: it is today (UTC) while events still arrive, or the day after the
    traffic, holding only what ran past midnight (a session's tail, a clock set late). Its numbers would read as a
    collapse (DAU of 1 after days of hundreds), so the default ends the day before; a URL naming its days shows
    exactly those. Days built after the latest day with events (with zero counts) do not move it. With a single
    day of events, that day."""
    candidates = [
        (schema.events_daily, None),
        (schema.active_users_daily, schema.active_users_daily.c.dau > 0),
    ]
    for table, active in candidates:
        if reader.has(table):
            day = table.c[_date_column(table)]
            statement = sa.select(day.label("day")).distinct().order_by(day.desc()).limit(2)
            days = reader.rows(statement if active is None else statement.where(active))
            if days:
                return _as_date(days[-1]["day"])
    return None


def first_day(reader: Reader) -> date | None:
    """Where the default period may start at the earliest: the first day with events. A young install (the demo's
    eight days) then opens on its days, not on three weeks of empty chart before them."""
    table = schema.events_daily
    if not reader.has(table):
        return None
    day = reader.scalar(sa.select(sa.func.min(table.c[_date_column(table)])).where(table.c.events > 0))
    return _as_date(day) if day is not None else None


def platforms(reader: Reader) -> list[str]:
    table = schema.events_daily_by_platform
    if not reader.has(table):
        return []
    return [row["platform"] for row in reader.rows(sa.select(table.c.platform).distinct().order_by(table.c.platform))]


def app_versions(reader: Reader, platform: str | None) -> list[str]:
    table = schema.events_daily_by_app_version
    if not reader.has(table):
        return []
    statement = sa.select(table.c.app_version).distinct().order_by(table.c.app_version)
    if platform:
        statement = statement.where(table.c.platform == platform)
    return [row["app_version"] for row in reader.rows(statement)]


def _date_column(table: sa.Table) -> str:
    return table.columns[0].name


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _between(table: sa.Table, period: Period) -> sa.ColumnElement[bool]:
    column = table.c[_date_column(table)]
    return column.between(period.first, period.last)


def _grain_table(tables: dict[Any, sa.Table], filters: Filters, base: str) -> sa.Table:
    """The table of the filters' grain: the total, per platform, or per platform and app version."""
    if filters.app_version:
        return tables[f"{base}_by_app_version"]
    if filters.platform:
        return tables[f"{base}_by_platform"]
    return tables[base]


def _where_filters(table: sa.Table, filters: Filters) -> list[sa.ColumnElement[bool]]:
    conditions = []
    if filters.platform and "platform" in table.c:
        conditions.append(table.c.platform == filters.platform)
    if filters.app_version and "app_version" in table.c:
        conditions.append(table.c.app_version == filters.app_version)
    return conditions


def _by_name(*tables: sa.Table) -> dict[str, sa.Table]:
    return {table.name: table for table in tables}


_ACTIVE = _by_name(*schema.ACTIVE_USERS_TABLES.values())
_AGGREGATES = schema.AGGREGATE_TABLES


# ---- overview


@dataclass(frozen=True)
class Metric:
    """One figure of the overview over the period, and the same figure over the period before."""

    key: str
    label: str
    value: float | None
    previous: float | None
    how: str
    percent: bool = False  # a ratio shown in percent; its change is in percentage points

    @property
    def change(self) -> float | None:
        """Relative change in percent (a ratio: the difference in percentage points); None without a base."""
        if self.value is None or self.previous is None:
            return None
        if self.percent:
            return round((self.value - self.previous) * 100, 1)
        if self.previous == 0:
            return None
        return round((self.value - self.previous) / self.previous * 100, 1)


@dataclass
class Overview:
    period: Period
    metrics: list[Metric]
    days: list[date]
    dau: list[int | None]
    wau: list[int | None]
    mau: list[int | None]
    new_users: list[int | None]
    sessions: list[int | None]
    notes: list[str] = field(default_factory=list)


def _daily(reader: Reader, table: sa.Table, columns: Sequence[str], filters: Filters, period: Period) -> dict:
    """`columns` per day over `period`, summed over the rows of the filters (callers pass additive columns, or a
    table whose filters leave one row a day)."""
    day = table.c[_date_column(table)]
    statement = (
        sa.select(day.label("day"), *(sa.func.sum(table.c[name]).label(name) for name in columns))
        .where(_between(table, period), *_where_filters(table, filters))
        .group_by(day)
    )
    return {_as_date(row["day"]): row for row in reader.rows(statement)}


def _built_days(reader: Reader, period: Period) -> int:
    """Days of `period` the pipeline built: the total active-users table has a row for each, zeros included."""
    table = schema.active_users_daily
    return reader.scalar(sa.select(sa.func.count()).select_from(table).where(_between(table, period))) or 0


def active_users_summary(reader: Reader, filters: Filters, period: Period) -> dict[str, float | None]:
    """DAU (average over the built days), WAU and MAU (on the period's last built day), new users (summed over
    days: a person is new once), stickiness (average DAU / average MAU, recomputed, never averaged)."""
    if filters.app_version and not filters.platform:
        return dict.fromkeys(("dau", "wau", "mau", "new_users", "stickiness"))
    table = _grain_table(_ACTIVE, filters, "active_users_daily")
    if not reader.has(table, schema.active_users_daily):
        return dict.fromkeys(("dau", "wau", "mau", "new_users", "stickiness"))
    built = _built_days(reader, period)
    if built == 0:
        return dict.fromkeys(("dau", "wau", "mau", "new_users", "stickiness"))
    daily = _daily(reader, table, ("dau", "wau", "mau", "new_users"), filters, period)
    last_built = reader.scalar(
        sa.select(sa.func.max(schema.active_users_daily.c.event_date)).where(
            _between(schema.active_users_daily, period)
        )
    )
    end = daily.get(_as_date(last_built)) if last_built is not None else None
    dau_sum = sum(row["dau"] for row in daily.values())
    mau_sum = sum(row["mau"] for row in daily.values())
    return {
        "dau": dau_sum / built,
        "wau": end["wau"] if end else 0,
        "mau": end["mau"] if end else 0,
        "new_users": sum(row["new_users"] for row in daily.values()),
        "stickiness": dau_sum / mau_sum if mau_sum else 0.0,
    }


def sessions_total(reader: Reader, filters: Filters, period: Period) -> int | None:
    """Sessions started in the period: sessions add up over days and over platforms or app versions."""
    table = _grain_table(_AGGREGATES, filters, "sessions_daily")
    if not reader.has(table) or _built_days_any(reader, table, period) == 0:
        return None
    statement = sa.select(sa.func.coalesce(sa.func.sum(table.c.sessions), 0)).where(
        _between(table, period), *_where_filters(table, filters)
    )
    return int(reader.scalar(statement))


def _built_days_any(reader: Reader, table: sa.Table, period: Period) -> int:
    if reader.has(schema.active_users_daily):
        built = _built_days(reader, period)
        if built:
            return built
    day = table.c[_date_column(table)]
    return reader.scalar(sa.select(sa.func.count(sa.distinct(day))).where(_between(table, period))) or 0


def overview(reader: Reader, filters: Filters, period: Period) -> Overview:
    now = active_users_summary(reader, filters, period)
    before = active_users_summary(reader, filters, period.previous)
    sessions_now, sessions_before = (
        sessions_total(reader, filters, period),
        sessions_total(reader, filters, period.previous),
    )
    last = period.last.isoformat()
    metrics = [
        Metric("dau", "Daily active users", now["dau"], before["dau"], "average per day"),
        Metric(
            "wau", "Weekly active users", now["wau"], before["wau"], f"the 7 days to the period's last day ({last})"
        ),
        Metric("mau", "Monthly active users", now["mau"], before["mau"], "the MAU window to the period's last day"),
        Metric("new_users", "New users", now["new_users"], before["new_users"], "first seen in the period"),
        Metric("sessions", "Sessions", sessions_now, sessions_before, "started in the period"),
        Metric("stickiness", "Stickiness", now["stickiness"], before["stickiness"], "average DAU / MAU", True),
    ]
    notes = []
    if filters.app_version and not filters.platform:
        notes.append(APP_VERSION_ACROSS_PLATFORMS)
    days = period.each_day()
    series: dict[str, list[int | None]] = {name: [None] * len(days) for name in ("dau", "wau", "mau", "new_users")}
    if not (filters.app_version and not filters.platform):
        table = _grain_table(_ACTIVE, filters, "active_users_daily")
        if reader.has(table, schema.active_users_daily):
            built = {
                _as_date(row["day"])
                for row in reader.rows(
                    sa.select(schema.active_users_daily.c.event_date.label("day")).where(
                        _between(schema.active_users_daily, period)
                    )
                )
            }
            daily = _daily(reader, table, ("dau", "wau", "mau", "new_users"), filters, period)
            for index, day in enumerate(days):
                if day in built:
                    row = daily.get(day)
                    for name in series:
                        series[name][index] = int(row[name]) if row else 0
    sessions: list[int | None] = [None] * len(days)
    table = _grain_table(_AGGREGATES, filters, "sessions_daily")
    if reader.has(table):
        daily_sessions = _daily(reader, table, ("sessions",), filters, period)
        sessions = [int(daily_sessions[day]["sessions"]) if day in daily_sessions else None for day in days]
    return Overview(
        period, metrics, days, series["dau"], series["wau"], series["mau"], series["new_users"], sessions, notes
    )


# ---- retention and lifecycle: read through the friendly views of reports/views.py, as a BI user would


def _view(name: str, *columns: tuple[str, Any]) -> sa.TableClause:
    """A view of `reports/views.py` as SQLAlchemy Core sees it: its name and the columns a page reads, typed so
    dates bind and read back as dates on SQLite too."""
    return sa.table(name, *(sa.column(column, kind) for column, kind in columns))


_RETENTION_COLUMNS = (
    ("definition", sa.Text()),
    ("cohort_size", sa.Integer()),
    ("retained", sa.Integer()),
    ("retained_percent", sa.Float()),
)
RETENTION_VIEWS = {
    "day": (
        _view("daily_retention_heatmap", ("cohort_day", sa.Date()), ("day_number", sa.Integer()), *_RETENTION_COLUMNS),
        "cohort_day",
        "day_number",
    ),
    "week": (
        _view(
            "weekly_retention_heatmap", ("cohort_week", sa.Date()), ("week_number", sa.Integer()), *_RETENTION_COLUMNS
        ),
        "cohort_week",
        "week_number",
    ),
}
_STATE_COLUMNS = (("state", sa.Text()), ("state_order", sa.Integer()), ("people", sa.Integer()))
LIFECYCLE_VIEWS = {
    "day": (_view("daily_lifecycle", ("day", sa.Date()), *_STATE_COLUMNS), "day"),
    "week": (
        _view("weekly_lifecycle", ("week_start", sa.Date()), ("final", sa.Boolean()), *_STATE_COLUMNS),
        "week_start",
    ),
}


@dataclass
class Retention:
    unit: str
    definition: str
    definitions: list[str]
    cohorts: list[date]
    sizes: list[int]
    periods: list[int]
    percent: list[list[float | None]]  # cohort x period; None: not reached yet
    retained: list[list[int | None]]


RETENTION_BY_APP_VERSION = {
    "day": (schema.retention_daily_by_app_version, "cohort_date"),
    "week": (schema.retention_weekly_by_app_version, "cohort_week"),
}


def _percent(part: int, whole: int) -> float | None:
    """`part` of `whole` in percent, to one decimal, rounded half away from zero as the views' NUMERIC is."""
    if not whole:
        return None
    exact = Decimal(100 * part) / Decimal(whole)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def retention(
    reader: Reader, period: Period, unit: str, definition: str, filters: Filters | None = None
) -> Retention | None:
    """The heatmap's cells of the cohorts that started in the period (by the week: from the week holding its
    first day), from the retention view: retained_percent is the view's, rounded as a BI user reads it.

    With a platform or an app version, the cohorts are the people acquired on it (the platform and app version
    of the event that put them in the cohort), with their returns on any platform: the table by app version,
    its rows of the filters summed (each person counts under one platform and version, so they add up) and the
    percent recomputed from the sums."""
    if filters is not None and (filters.platform or filters.app_version):
        table, cohort_name = RETENTION_BY_APP_VERSION[unit]
        source, number_name = table, "period"
        where = _where_filters(table, filters)
    else:
        source, cohort_name, number_name = RETENTION_VIEWS[unit]
        where = []
    if not reader.has_rows(source):
        return None
    cohort, number = source.c[cohort_name], source.c[number_name]
    first = period.first - timedelta(days=period.first.weekday()) if unit == "week" else period.first
    definitions = [row["definition"] for row in reader.rows(sa.select(source.c.definition).distinct())]
    if definition not in definitions:
        definition = "first_seen" if "first_seen" in definitions else sorted(definitions)[0]
    chosen = [cohort.between(first, period.last), source.c.definition == definition, *where]
    if where:
        sums = reader.rows(
            sa.select(
                cohort.label("cohort"),
                number.label("period"),
                sa.func.sum(source.c.cohort_size).label("cohort_size"),
                sa.func.sum(source.c.retained).label("retained"),
            )
            .where(*chosen)
            .group_by(cohort, number)
            .order_by(cohort, number)
        )
        rows = [{**row, "retained_percent": _percent(int(row["retained"]), int(row["cohort_size"]))} for row in sums]
    else:
        rows = reader.rows(
            sa.select(
                cohort.label("cohort"),
                number.label("period"),
                source.c.cohort_size,
                source.c.retained,
                source.c.retained_percent,
            )
            .where(*chosen)
            .order_by(cohort, number)
        )
    cohorts = sorted({_as_date(row["cohort"]) for row in rows})
    periods = list(range(max((row["period"] for row in rows), default=-1) + 1))
    sizes = {_as_date(row["cohort"]): int(row["cohort_size"]) for row in rows}
    percent: list[list[float | None]] = [[None] * len(periods) for _ in cohorts]
    retained: list[list[int | None]] = [[None] * len(periods) for _ in cohorts]
    index = {day: i for i, day in enumerate(cohorts)}
    for row in rows:
        i = index[_as_date(row["cohort"])]
        retained[i][row["period"]] = int(row["retained"])
        # NULL for a cohort of nobody (the view divides by nullif(cohort_size, 0)): shown as 0%.
        percent[i][row["period"]] = float(row["retained_percent"] or 0)
    return Retention(
        unit, definition, sorted(definitions), cohorts, [sizes[c] for c in cohorts], periods, percent, retained
    )


@dataclass
class Lifecycle:
    unit: str
    labels: list[str]
    states: dict[str, list[int]]  # new, returning, resurrecting (positive), dormant (negative)
    partial: list[str]  # weeks not over yet


LIFECYCLE_BY = {
    ("day", "platform"): schema.lifecycle_daily_by_platform,
    ("day", "app_version"): schema.lifecycle_daily_by_app_version,
    ("week", "platform"): schema.lifecycle_weekly_by_platform,
    ("week", "app_version"): schema.lifecycle_weekly_by_app_version,
}
LIFECYCLE_ACROSS_PLATFORMS = (
    "Lifecycle states exist per platform and per platform and app version, not per app version across platforms "
    "(a person on two platforms of one version has a state on each): choose a platform too."
)
_STATES = {"new": "new_users", "returning": "returning_users", "resurrecting": "resurrecting_users"}


def lifecycle(reader: Reader, period: Period, unit: str, filters: Filters | None = None) -> Lifecycle | None:
    """Each day's or week's people by state, from the lifecycle view (one row per state, dormant negative).

    With a platform (and an app version), the states judged on that platform's (version's) activity alone, from
    the table by platform (by app version). An app version without a platform has no table: no rows (the page
    says why)."""
    if filters is not None and (filters.platform or filters.app_version):
        if not filters.platform:
            return Lifecycle(unit, [], {state: [] for state in (*_STATES, "dormant")}, [])
        return _lifecycle_of(reader, period, unit, filters)
    view, period_name = LIFECYCLE_VIEWS[unit]
    if not reader.has_rows(view):
        return None
    day = view.c[period_name]
    first = period.first - timedelta(days=period.first.weekday()) if unit == "week" else period.first
    final = [view.c.final] if unit == "week" else []
    rows = reader.rows(
        sa.select(day.label("day"), view.c.state, view.c.people, *final)
        .where(day.between(first, period.last))
        .order_by(day, view.c.state_order)
    )
    labels = sorted({_as_date(row["day"]).isoformat() for row in rows})
    index = {label: i for i, label in enumerate(labels)}
    states: dict[str, list[int]] = {
        state: [0] * len(labels) for state in ("new", "returning", "resurrecting", "dormant")
    }
    partial = set()
    for row in rows:
        label = _as_date(row["day"]).isoformat()
        states[row["state"]][index[label]] = int(row["people"])
        if unit == "week" and not row["final"]:
            partial.add(label)
    return Lifecycle(unit, labels, states, sorted(partial))


# ---- funnels


@dataclass
class FunnelStep:
    step: int
    name: str
    entered: int
    reached: int
    conversion_from_start: float | None
    conversion_from_previous: float | None
    median_seconds_from_previous: float | None


def funnels(reader: Reader, filters: Filters, period: Period) -> dict[str, list[FunnelStep]] | None:
    """Each funnel's steps over the period: attempts of each day summed (entered, reached), the rates recomputed
    from the sums, and the median time from the previous step as the median of the days' exact medians.

    An app version (with or without a platform) reads the table by platform and app version: each attempt counts
    under the ones it entered on, so a version's platforms add up like the days."""
    table = _grain_table(_by_name(*schema.FUNNEL_TABLES), filters, "funnel_steps_daily")
    if not reader.has_rows(schema.funnel_steps_daily):
        return None
    rows = reader.rows(sa.select(table).where(_between(table, period), *_where_filters(table, filters)))
    sums: dict[tuple[str, int], dict[str, Any]] = {}
    medians: dict[tuple[str, int], list[float]] = defaultdict(list)
    for row in rows:
        key = (row["funnel"], row["step"])
        total = sums.setdefault(key, {"name": row["step_name"], "entered": 0, "reached": 0})
        total["entered"] += row["entered"]
        total["reached"] += row["reached"]
        if row["median_seconds_from_previous"] is not None:
            medians[key].append(row["median_seconds_from_previous"])
    result: dict[str, list[FunnelStep]] = {}
    for funnel, step in sorted(sums):
        total = sums[(funnel, step)]
        steps = result.setdefault(funnel, [])
        previous = steps[-1].reached if steps else total["entered"]
        steps.append(
            FunnelStep(
                step,
                total["name"],
                total["entered"],
                total["reached"],
                total["reached"] / total["entered"] if total["entered"] else None,
                total["reached"] / previous if previous else None,
                statistics.median(medians[(funnel, step)]) if medians[(funnel, step)] else None,
            )
        )
    return result


# ---- events


@dataclass
class Events:
    top: list[dict[str, Any]]
    total: int
    days: list[date]
    trend: dict[str, list[int]]
    breakdowns: dict[str, list[dict[str, Any]]]  # name -> rows of value, events
    notes: list[str]


def _event_label(row: dict[str, Any]) -> str:
    return row["event_name"] if row["event_type"] in ("track",) else f"{row['event_type']}: {row['event_name']}"


def events(reader: Reader, filters: Filters, period: Period) -> Events | None:
    table = _grain_table(_AGGREGATES, filters, "events_daily")
    if not reader.has_rows(schema.events_daily):
        return None
    where = [_between(table, period), *_where_filters(table, filters)]
    summed = sa.func.sum(table.c.events)
    top = reader.rows(
        sa.select(table.c.event_type, table.c.event_name, summed.label("events"))
        .where(*where)
        .group_by(table.c.event_type, table.c.event_name)
        .order_by(summed.desc(), table.c.event_type, table.c.event_name)
        .limit(TOP_EVENTS)
    )
    total = int(reader.scalar(sa.select(sa.func.coalesce(summed, 0)).where(*where)))
    for row in top:
        row["label"] = _event_label(row)
        row["percent"] = round(100.0 * row["events"] / total, 1) if total else 0.0
    days = period.each_day()
    trend: dict[str, list[int]] = {ALL_EVENTS: [0] * len(days)}
    index = {day: i for i, day in enumerate(days)}
    day = table.c.event_date
    for row in reader.rows(sa.select(day.label("day"), summed.label("events")).where(*where).group_by(day)):
        trend[ALL_EVENTS][index[_as_date(row["day"])]] = int(row["events"])
    for event in top[:TREND_EVENTS]:
        line = [0] * len(days)
        statement = (
            sa.select(day.label("day"), summed.label("events"))
            .where(*where, table.c.event_type == event["event_type"], table.c.event_name == event["event_name"])
            .group_by(day)
        )
        for row in reader.rows(statement):
            line[index[_as_date(row["day"])]] = int(row["events"])
        trend[event["label"]] = line
    breakdowns: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    dimension_tables = {
        # With an app version, its platforms come from the app-version table: the platform table has no versions.
        "platform": (
            schema.events_daily_by_app_version if filters.app_version else schema.events_daily_by_platform,
            ("platform",),
        ),
        "app version": (schema.events_daily_by_app_version, ("platform", "app_version")),
        "operating system": (schema.events_daily_by_os, ("os_name", "os_version")),
        "country": (schema.events_daily_by_country, ("country",)),
    }
    for name, (breakdown, columns) in dimension_tables.items():
        if not reader.has(breakdown):
            continue
        conditions = [_between(breakdown, period), *_where_filters(breakdown, filters)]
        # Every breakdown has the columns of the filters (events add up over platforms and versions, so without
        # filters the sum is every platform's); a table of an older version, from before OS and country had them, not.
        filtered = [column for column in ("platform", "app_version") if getattr(filters, column)]
        if filtered and not reader.has_columns(breakdown, *filtered):
            notes.append(
                f"Events by {name} count every platform and app version: the report table {breakdown.name} is of an "
                "older version, without them (drop it and build it again: docs/pipeline.md, Upgrading)."
            )
            conditions = [_between(breakdown, period)]
        total_events = sa.func.sum(breakdown.c.events)
        rows = reader.rows(
            sa.select(*(breakdown.c[c] for c in columns), total_events.label("events"))
            .where(*conditions)
            .group_by(*(breakdown.c[c] for c in columns))
            .order_by(total_events.desc(), *(breakdown.c[c] for c in columns))
            .limit(15)
        )
        breakdowns[name] = [{"value": " ".join(str(row[c]) for c in columns), "events": row["events"]} for row in rows]
    return Events(top, total, days, trend, breakdowns, notes)


# ---- sessions


@dataclass
class Sessions:
    buckets: list[str]
    counts: list[int]
    total: int
    percentiles: list[dict[str, Any]]  # a row per day
    notes: list[str]


def sessions(reader: Reader, filters: Filters, period: Period) -> Sessions | None:
    if not reader.has_rows(schema.session_duration_histogram):
        return None
    table = _grain_table(_AGGREGATES, filters, "session_duration_histogram")
    summed = sa.func.sum(table.c.sessions)
    rows = reader.rows(
        sa.select(table.c.bucket, table.c.bucket_order, summed.label("sessions"))
        .where(_between(table, period), *_where_filters(table, filters))
        .group_by(table.c.bucket, table.c.bucket_order)
        .order_by(table.c.bucket_order)
    )
    notes = []
    percentiles: list[dict[str, Any]] = []
    if filters.app_version and not filters.platform:
        notes.append("Percentiles exist per platform and app version: choose a platform too to see them.")
    else:
        p_table = _grain_table(_AGGREGATES, filters, "session_duration_percentiles")
        percentiles = reader.rows(
            sa.select(p_table)
            .where(_between(p_table, period), *_where_filters(p_table, filters))
            .order_by(p_table.c.session_date)
        )
        for row in percentiles:
            row["day"] = _as_date(row.pop("session_date"))
    counts = [int(row["sessions"]) for row in rows]
    return Sessions([row["bucket"] for row in rows], counts, sum(counts), percentiles, notes)


# ---- people


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class Page:
    """One page of a long list (the people a search found, a person's sessions), and how many rows it has in all."""

    rows: list[dict[str, Any]]
    total: int
    page: int  # 1 for the first page
    pages: int


def _page(reader: Reader, statement: sa.Select, order: list[Any], page: int, size: int) -> Page:
    """Page `page` of `statement`'s rows in `order`, `size` a page; a page past the last shows the last."""
    total = reader.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    return Page(reader.rows(statement.order_by(*order).limit(size).offset((page - 1) * size)), total, page, pages)


def _active_people(filters: Filters, period: Period, reader: Reader) -> sa.Select:
    """The ids of people active in the period (on the filters' platform): their days, as active users are counted.
    With an app version, their sessions of it on the platform (days hold no app version; without the sessions
    table, `search_people` keeps the people whose latest app version it is)."""
    sessions = schema.person_sessions
    if filters.app_version and reader.has(sessions):
        return sa.select(sessions.c.person_id).where(_between(sessions, period), *_where_filters(sessions, filters))
    days = schema.person_days
    active = sa.select(days.c.person_id).where(_between(days, period))
    if filters.platform:
        active = active.where(
            (sa.literal(",") + days.c.platforms + sa.literal(",")).like(
                _like("," + filters.platform + ","), escape="\\"
            )
        )
    return active


def search_people(
    reader: Reader, filters: Filters, period: Period, text: str, page: int = 1, page_size: int = PEOPLE_PAGE
) -> Page | None:
    """People whose person id, user id or a trait holds `text` (case-insensitive), active in the period (on the
    platform and app version), most recently seen first, `page_size` a page (a page past the last shows the
    last)."""
    people = schema.people
    if not reader.has_rows(people):
        return None
    statement = sa.select(
        people.c.person_id,
        people.c.user_id,
        people.c.email,
        people.c.name,
        people.c.plan,
        people.c.first_seen,
        people.c.last_seen,
        people.c.latest_platform,
        people.c.latest_app_version,
        people.c.sessions,
        people.c.events,
    ).where(people.c.person_id.in_(_active_people(filters, period, reader)))
    if filters.app_version and not reader.has(schema.person_sessions):
        statement = statement.where(people.c.latest_app_version == filters.app_version)
    if text:
        pattern = _like(text.lower())
        searched = [
            people.c.person_id,
            people.c.user_id,
            people.c.email,
            people.c.name,
            people.c.plan,
            people.c.team,
            sa.cast(people.c.traits, sa.Text),
        ]
        statement = statement.where(sa.or_(*(sa.func.lower(c).like(pattern, escape="\\") for c in searched)))
    return _page(reader, statement, [people.c.last_seen.desc(), people.c.person_id], page, page_size)


@dataclass
class Person:
    profile: dict[str, Any]
    days: list[dict[str, Any]]
    churn: dict[str, Any] | None
    segment: dict[str, Any] | None
    recommendations: list[dict[str, Any]]
    sessions: Page | None = None  # None: no person_sessions table yet


def person_sessions(
    reader: Reader, period: Period, person_id: str, page: int = 1, filters: Filters | None = None
) -> Page | None:
    """The person's sessions started in the period (on the filters' platform and app version), SESSIONS_PAGE a
    page, newest first (a page past the last shows the last): a heavy user's year is thousands of sessions, a page
    is read at a glance."""
    table = schema.person_sessions
    if not reader.has(table):
        return None
    where = [table.c.person_id == person_id, _between(table, period), *_where_filters(table, filters or Filters())]
    statement = sa.select(table).where(*where)
    return _page(reader, statement, [table.c.session_start.desc(), table.c.session_id], page, SESSIONS_PAGE)


def person_days_of_sessions(reader: Reader, period: Period, person_id: str, filters: Filters) -> list[dict[str, Any]]:
    """The person's days as `person_days` has them, counted from their sessions of the filters' platform and app
    version (person_days counts every platform): the newest TIMELINE_DAYS, newest first."""
    table = schema.person_sessions
    if not reader.has(table):
        return []
    day = table.c.session_date
    rows = reader.rows(
        sa.select(
            day.label("event_date"),
            sa.func.count().label("sessions"),
            sa.func.sum(table.c.events).label("events"),
            sa.func.sum(table.c.duration_seconds).label("seconds"),
            sa.func.min(table.c.session_start).label("first_event_at"),
            sa.func.max(table.c.session_end).label("last_event_at"),
        )
        .where(table.c.person_id == person_id, _between(table, period), *_where_filters(table, filters))
        .group_by(day)
        .order_by(day.desc())
        .limit(TIMELINE_DAYS)
    )
    platforms: dict[date, set[str]] = defaultdict(set)
    statement = sa.select(day.label("day"), table.c.platform).distinct()
    statement = statement.where(
        table.c.person_id == person_id, _between(table, period), *_where_filters(table, filters)
    )
    for row in reader.rows(statement):
        platforms[_as_date(row["day"])].add(row["platform"])
    for row in rows:
        row["event_date"] = _as_date(row["event_date"])
        row["platforms"] = ",".join(sorted(platforms[row["event_date"]]))
        for name in ("first_event_at", "last_event_at"):  # SQLite hands an aggregate's timestamp back as text
            if isinstance(row[name], str):
                row[name] = datetime.fromisoformat(row[name])
    return rows


def person(
    reader: Reader, period: Period, person_id: str, sessions_page: int = 1, filters: Filters | None = None
) -> Person | None:
    """A person's profile (every platform, all time), their days and sessions in the period (with a platform or app
    version filter: of that platform and version only), and their latest churn score, segment, recommendations."""
    filters = filters or Filters()
    people = schema.people
    if not reader.has(people):
        return None
    profile = reader.rows(sa.select(people).where(people.c.person_id == person_id))
    if not profile:
        return None
    days: list[dict[str, Any]] = []
    if filters.platform or filters.app_version:
        days = person_days_of_sessions(reader, period, person_id, filters)
    elif reader.has(schema.person_days):
        table = schema.person_days
        days = reader.rows(
            sa.select(table)
            .where(table.c.person_id == person_id, _between(table, period))
            .order_by(table.c.event_date.desc())
            .limit(TIMELINE_DAYS)
        )

    def latest(table: sa.Table) -> list[dict[str, Any]]:
        if not reader.has(table):
            return []
        newest = sa.select(sa.func.max(table.c.as_of_date)).where(table.c.person_id == person_id).scalar_subquery()
        return reader.rows(sa.select(table).where(table.c.person_id == person_id, table.c.as_of_date == newest))

    churn = latest(schema.churn_scores)
    segment = latest(schema.person_segments)
    recommended = sorted(latest(schema.recommendations), key=lambda row: row["rank"])
    return Person(
        profile[0],
        days,
        churn[0] if churn else None,
        segment[0] if segment else None,
        recommended,
        person_sessions(reader, period, person_id, sessions_page, filters),
    )


# ---- churn and segments (the ML tables)


@dataclass
class Churn:
    as_of: date
    bands: dict[str, int]
    histogram: list[int]  # people per score tenth
    at_risk: list[dict[str, Any]]
    scored: int


def _latest_as_of(reader: Reader, table: sa.Table, last: date | None) -> date | None:
    """The latest day a model is as of, up to `last` (the URL's `to`). Without one, the latest of all: a model
    trained as of the latest day is shown although the default period ends on the last complete day."""
    statement = sa.select(sa.func.max(table.c.as_of_date))
    day = reader.scalar(statement if last is None else statement.where(table.c.as_of_date <= last))
    return _as_date(day) if day is not None else None


def _people_filter(statement: sa.Select, table: sa.Table, filters: Filters) -> sa.Select:
    """People of the filters by their latest platform and app version (the people table's)."""
    if not (filters.platform or filters.app_version):
        return statement
    people = schema.people
    statement = statement.join(people, people.c.person_id == table.c.person_id)
    if filters.platform:
        statement = statement.where(people.c.latest_platform == filters.platform)
    if filters.app_version:
        statement = statement.where(people.c.latest_app_version == filters.app_version)
    return statement


def churn(reader: Reader, filters: Filters, period: Period) -> Churn | None:
    table = schema.churn_scores
    if not reader.has_rows(table):
        return None
    as_of = _latest_as_of(reader, table, filters.last)
    if as_of is None:
        return None
    base = sa.select(table).where(table.c.as_of_date == as_of)
    rows = reader.rows(_people_filter(base, table, filters).order_by(table.c.score.desc(), table.c.person_id))
    bands = {band: 0 for band in ("high", "medium", "low")}
    histogram = [0] * SCORE_BINS
    for row in rows:
        bands[row["risk_band"]] = bands.get(row["risk_band"], 0) + 1
        histogram[min(int(row["score"] * SCORE_BINS), SCORE_BINS - 1)] += 1
    return Churn(as_of, bands, histogram, rows[:AT_RISK], len(rows))


@dataclass
class Segments:
    as_of: date
    segments: list[dict[str, Any]]  # segment, description, people, share
    history_days: list[str]
    history: dict[str, list[int]]  # segment description -> people per day
    notes: list[str]


def segments(reader: Reader, filters: Filters, period: Period) -> Segments | None:
    sizes, members = schema.segment_sizes, schema.person_segments
    if not reader.has_rows(sizes):
        return None
    as_of = _latest_as_of(reader, sizes, filters.last)
    if as_of is None:
        return None
    notes = []
    if filters.platform or filters.app_version:
        count = sa.func.count()
        statement = (
            _people_filter(sa.select(members.c.segment, members.c.description, count.label("people")), members, filters)
            .where(members.c.as_of_date == as_of)
            .group_by(members.c.segment, members.c.description)
            .order_by(members.c.segment)
        )
        rows = reader.rows(statement)
        everyone = sum(row["people"] for row in rows)
        for row in rows:
            row["share"] = row["people"] / everyone if everyone else 0.0
        notes.append("People counted by their latest platform and app version (the people table's).")
    else:
        rows = reader.rows(sa.select(sizes).where(sizes.c.as_of_date == as_of).order_by(sizes.c.segment))
    days = (period.first, max(period.last, as_of))  # through the day shown
    if filters.platform or filters.app_version:  # the filters' people of each day's segments, as the table above
        count = sa.func.count()
        history_rows = reader.rows(
            _people_filter(
                sa.select(members.c.as_of_date, members.c.description, count.label("people")), members, filters
            )
            .where(members.c.as_of_date.between(*days))
            .group_by(members.c.as_of_date, members.c.segment, members.c.description)
            .order_by(members.c.as_of_date, members.c.segment)
        )
    else:
        history_rows = reader.rows(
            sa.select(sizes.c.as_of_date, sizes.c.description, sizes.c.people)
            .where(sizes.c.as_of_date.between(*days))
            .order_by(sizes.c.as_of_date, sizes.c.segment)
        )
    return Segments(as_of, rows, *_segment_history(history_rows), notes)


def _segment_history(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[int]]]:
    """People per segment and day, each segment named by its description: segment numbers are each day's own
    (0 the largest), so a segment is followed over time by what it is. The HISTORY_SEGMENTS largest descriptions
    over the days get a series each; the others add up in OTHER_SEGMENTS."""
    days = sorted({_as_date(row["as_of_date"]).isoformat() for row in rows})
    index = {day: i for i, day in enumerate(days)}
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["description"]] += row["people"]
    kept = sorted(totals, key=lambda name: (-totals[name], name))[:HISTORY_SEGMENTS]
    history: dict[str, list[int]] = {name: [0] * len(days) for name in kept}
    for row in rows:
        name = row["description"] if row["description"] in history else OTHER_SEGMENTS
        line = history.setdefault(name, [0] * len(days))
        line[index[_as_date(row["as_of_date"]).isoformat()]] += row["people"]
    return days, history


def _lifecycle_of(reader: Reader, period: Period, unit: str, filters: Filters) -> Lifecycle | None:
    """`lifecycle` of one platform, or one platform's app version, from its table (one row per period)."""
    table = LIFECYCLE_BY[(unit, "app_version" if filters.app_version else "platform")]
    if not reader.has_rows(table):
        return None
    day = table.c[_date_column(table)]
    first = period.first - timedelta(days=period.first.weekday()) if unit == "week" else period.first
    final = [table.c.final] if unit == "week" else []
    rows = reader.rows(
        sa.select(day.label("day"), *(table.c[c] for c in (*_STATES.values(), "dormant_users")), *final)
        .where(day.between(first, period.last), *_where_filters(table, filters))
        .order_by(day)
    )
    labels = [_as_date(row["day"]).isoformat() for row in rows]
    states = {state: [int(row[column]) for row in rows] for state, column in _STATES.items()}
    states["dormant"] = [-int(row["dormant_users"]) for row in rows]
    partial = [label for label, row in zip(labels, rows, strict=True) if unit == "week" and not row["final"]]
    return Lifecycle(unit, labels, states, partial)
