"""The report tables BI tools read: one SQLAlchemy definition serves SQLite and PostgreSQL alike.

Every table is partitioned by a date column: a pipeline run replaces one date's rows in one
transaction. Each table has one grain, stated in its COMMENT: a subject's day total
(`daily_active_users`), by platform (`..._by_platform`) or by platform and app version
(`..._by_app_version`). Totals are never mixed with breakdowns, so a BI tool's default SUM over a
column that sums (events, sessions) gives the right figure, and a column of distinct users says in its
COMMENT that it does not sum across rows. PostgreSQL stores the comments (BI tools show them); SQLite
ignores them. Text columns take their length from `transforms.report_text`, whose rule makes every
value fit before it gets here.
"""

import sqlalchemy as sa

from revolt_pipeline.transforms.aggregates import (
    AGGREGATES,
    ALL,  # reserved in platform and app_version: a client value `all` gets a suffix (report_text)
    BY_APP_VERSION,
    BY_PLATFORM,
    DURATION_BUCKETS,
    GRAINS,
    PERCENTILES,
    TOTAL,
    Grain,
)
from revolt_pipeline.transforms.report_text import REPORT_TEXT_CHARS

metadata = sa.MetaData()

_NOT_SUMMABLE = "Distinct people: do not add up across rows (a person active in two {groups} counts in both)."
_GRAIN_WORDS = {
    TOTAL.suffix: ("all platforms and app versions together", "days"),
    BY_PLATFORM.suffix: ("per platform", "platforms or days"),
    BY_APP_VERSION.suffix: ("per platform and app version", "app versions or days"),
}


def _text_key(name: str, comment: str) -> sa.Column[str]:
    """A primary-key text column, as long as the report's rule for `name` allows."""
    return sa.Column(name, sa.String(REPORT_TEXT_CHARS[name]), primary_key=True, comment=comment)


def _date_key(name: str, comment: str) -> sa.Column[sa.Date]:
    return sa.Column(name, sa.Date, primary_key=True, comment=comment)


def _count(name: str, comment: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, comment=comment)


def _people(name: str, grain: Grain, what: str) -> sa.Column[int]:
    return _count(name, f"{what} {_NOT_SUMMABLE.format(groups=_GRAIN_WORDS[grain.suffix][1])}")


def _seconds(name: str, comment: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float, nullable=nullable, comment=comment)


def _dimensions(grain: Grain) -> list[sa.Column[str]]:
    comments = {
        "platform": "The platform (ios, android, web, ...; `unknown` if the app did not say). "
        "A filter: each row is one platform's share.",
        "app_version": "The app version (context.app.version; `unknown` if the app did not say), within its platform.",
    }
    return [_text_key(name, comments[name]) for name in grain.dimensions]


def _table(subject: str, grain: Grain, about: str, columns: list[sa.Column], grain_columns: str) -> sa.Table:
    name = subject + grain.suffix
    assert name in AGGREGATES, name  # one table per lake aggregate, same name
    comment = f"{about} Grain: one row per {grain_columns}; {_GRAIN_WORDS[grain.suffix][0]}."
    dimensions = _dimensions(grain)
    date_column, rest = columns[0], columns[1:]
    # The date leads every primary key, so it indexes the date filter; breakdowns index the platform filter too.
    indexes = [sa.Index(f"ix_{name}_platform", "platform")] if grain.dimensions else []
    return sa.Table(name, metadata, date_column, *dimensions, *rest, *indexes, comment=comment)


def _grain_words(grain: Grain, *more: str) -> str:
    return " x ".join(["day", *grain.dimensions, *more])


def _daily_active_users(grain: Grain) -> sa.Table:
    return _table(
        "daily_active_users",
        grain,
        "Distinct people (after identity stitching) with at least one event on the day (UTC).",
        [
            _date_key("event_date", "The day of the events (UTC)."),
            _people("active_users", grain, "People with at least one event."),
            _people("identified_users", grain, "Of them, people known by a user id (identified)."),
            _people("anonymous_users", grain, "Of them, people known only by an anonymous id."),
        ],
        _grain_words(grain),
    )


def _sessions_daily(grain: Grain) -> sa.Table:
    not_summable = "Not additive: recompute from the sessions, never add or average rows."
    return _table(
        "sessions_daily",
        grain,
        "Sessions by the day they start (UTC), with their platform and app version at the start.",
        [
            _date_key("session_date", "The day the sessions started (UTC)."),
            _count("sessions", "Sessions started. Sums across rows."),
            _people("users", grain, "People with a session."),
            _count("events", "Events in these sessions. Sums across rows."),
            _seconds("total_duration_seconds", "Seconds from each session's first to last event, added up. Sums."),
            _seconds("avg_duration_seconds", f"Mean session duration in seconds. {not_summable}"),
            _seconds("median_duration_seconds", f"Median session duration in seconds. {not_summable}"),
            _seconds("p90_duration_seconds", f"90th percentile of session duration in seconds. {not_summable}"),
            _count("single_event_sessions", "Sessions of a single event (duration 0). Sums across rows."),
            _count("split_sessions", "Sessions cut at the maximum session length. Sums across rows."),
        ],
        _grain_words(grain),
    )


def _events_daily(grain: Grain) -> sa.Table:
    return _table(
        "events_daily",
        grain,
        "Events by type and name (track: the event; page, screen: the name; others: the type), duplicates once.",
        [
            _date_key("event_date", "The day of the events (UTC)."),
            _text_key("event_type", "The message type: track, page, screen, identify, group or alias."),
            _text_key("event_name", "The track event, the page or screen name, or the type for other messages."),
            _count("events", "Events. Sums across rows."),
            _people("users", grain, "People who sent the event (one who sent two events counts for each)."),
        ],
        _grain_words(grain, "event_type", "event_name"),
    )


def _session_duration_histogram(grain: Grain) -> sa.Table:
    buckets = ", ".join(label for label, _ in DURATION_BUCKETS)
    return _table(
        "session_duration_histogram",
        grain,
        f"Sessions by duration bucket ({buckets}), by the day they start (UTC); every bucket is present, "
        "with 0 sessions where none fell in it.",
        [
            _date_key("session_date", "The day the sessions started (UTC)."),
            sa.Column(
                "bucket",
                sa.String(max(len(label) for label, _ in DURATION_BUCKETS)),
                primary_key=True,
                comment="The duration bucket's label; sort by bucket_order.",
            ),
            sa.Column(
                "bucket_order", sa.SmallInteger, nullable=False, comment="Sorts the buckets from shortest (0) up."
            ),
            sa.Column("lower_seconds", sa.Integer, nullable=False, comment="The bucket's lowest duration (inclusive)."),
            sa.Column(
                "upper_seconds", sa.Integer, comment="The bucket's duration bound (exclusive); NULL: no upper bound."
            ),
            _count("sessions", "Sessions with a duration in the bucket. Sums across rows."),
        ],
        _grain_words(grain, "bucket"),
    )


def _session_duration_percentiles(grain: Grain) -> sa.Table:
    how = (
        "exact, interpolated between the two nearest sessions like PostgreSQL's percentile_cont; NULL without sessions"
    )
    return _table(
        "session_duration_percentiles",
        grain,
        "Percentiles of session duration in seconds, by the day sessions start (UTC), computed from every session.",
        [
            _date_key("session_date", "The day the sessions started (UTC)."),
            _count("sessions", "Sessions started. Sums across rows."),
            _seconds("min_duration_seconds", "The shortest session, in seconds; NULL without sessions.", True),
            *[
                _seconds(f"p{p}_duration_seconds", f"{p}th percentile of session duration in seconds ({how}).", True)
                for p in PERCENTILES
            ],
            _seconds("max_duration_seconds", "The longest session, in seconds; NULL without sessions.", True),
        ],
        _grain_words(grain),
    )


_SUBJECT_TABLES = {
    "daily_active_users": _daily_active_users,
    "sessions_daily": _sessions_daily,
    "events_daily": _events_daily,
    "session_duration_histogram": _session_duration_histogram,
    "session_duration_percentiles": _session_duration_percentiles,
}
AGGREGATE_TABLES: dict[str, sa.Table] = {
    name: _SUBJECT_TABLES[subject](grain) for name, (subject, grain) in AGGREGATES.items()
}
"""Every table loaded from a lake aggregate of the same name, in AGGREGATES' order."""

daily_active_users = AGGREGATE_TABLES["daily_active_users"]
daily_active_users_by_platform = AGGREGATE_TABLES["daily_active_users_by_platform"]
daily_active_users_by_app_version = AGGREGATE_TABLES["daily_active_users_by_app_version"]
sessions_daily = AGGREGATE_TABLES["sessions_daily"]
sessions_daily_by_platform = AGGREGATE_TABLES["sessions_daily_by_platform"]
sessions_daily_by_app_version = AGGREGATE_TABLES["sessions_daily_by_app_version"]
events_daily = AGGREGATE_TABLES["events_daily"]
events_daily_by_platform = AGGREGATE_TABLES["events_daily_by_platform"]
events_daily_by_app_version = AGGREGATE_TABLES["events_daily_by_app_version"]
session_duration_histogram = AGGREGATE_TABLES["session_duration_histogram"]
session_duration_histogram_by_platform = AGGREGATE_TABLES["session_duration_histogram_by_platform"]
session_duration_histogram_by_app_version = AGGREGATE_TABLES["session_duration_histogram_by_app_version"]
session_duration_percentiles = AGGREGATE_TABLES["session_duration_percentiles"]
session_duration_percentiles_by_platform = AGGREGATE_TABLES["session_duration_percentiles_by_platform"]
session_duration_percentiles_by_app_version = AGGREGATE_TABLES["session_duration_percentiles_by_app_version"]

event_catalog = sa.Table(
    "event_catalog",
    metadata,
    _date_key("received_date", "The day the collector received the events (UTC), not the day they happened."),
    _text_key("event_type", "The message type: track, page, screen, identify, group or alias."),
    _text_key("event_name", "The track event, the page or screen name, or the type for other messages."),
    _text_key("property", "A property (or, for identify and group, a trait) the events carried, by its JSON path."),
    _text_key("json_type", "The property's JSON type: string, integer, number, boolean, object, array or null."),
    _count("events", "Events that carried the property with this type. Sums across types of one property."),
    comment="Which properties (or traits) each event carried on a received day, and their JSON types. "
    "Grain: one row per received day x event_type x event_name x property x json_type.",
)

PARTITION_COLUMNS = {
    **{name: table.columns[0].name for name, table in AGGREGATE_TABLES.items()},
    event_catalog.name: "received_date",
}

__all__ = ["AGGREGATE_TABLES", "ALL", "PARTITION_COLUMNS", "event_catalog", "metadata", *AGGREGATE_TABLES]


# Active users, from the people layer (`layers/people.py`): exact distinct people over windows of person days
# ending on each day, one table per grain like the aggregates'.
def _active_users(grain: Grain) -> sa.Table:
    name = "active_users_daily" + grain.suffix
    new_users = (
        "People first seen on the day. Sums across days (a person is new once)."
        if not grain.dimensions
        else "People first seen on the day, of those active in this group that day. Sums across days, not "
        f"across {_GRAIN_WORDS[grain.suffix][1].removesuffix(' or days')} (a new person active in two counts in both)."
    )
    columns = [
        _date_key("event_date", "The day (UTC) the windows end on."),
        *_dimensions(grain),
        _people("dau", grain, "People active on the day."),
        _people("wau", grain, "People active in the 7 days ending on the day."),
        _people("mau", grain, "People active in the MAU window ending on the day (REVOLT_MAU_WINDOW_DAYS, 30 days)."),
        sa.Column("stickiness", sa.Float, nullable=False, comment="dau / mau (0 when mau is 0). Not additive."),
        _count("new_users", new_users),
    ]
    indexes = [sa.Index(f"ix_{name}_platform", "platform")] if grain.dimensions else []
    comment = (
        "Active users (DAU, WAU, MAU), stickiness and new users: exact distinct people after identity stitching. "
        f"Grain: one row per {_grain_words(grain)} with people active in the MAU window; "
        f"{_GRAIN_WORDS[grain.suffix][0]}."
    )
    return sa.Table(name, metadata, *columns, *indexes, comment=comment)


ACTIVE_USERS_TABLES: dict[Grain, sa.Table] = {grain: _active_users(grain) for grain in GRAINS}
"""The active-users tables by grain: totals, per platform, per platform and app version."""
active_users_daily = ACTIVE_USERS_TABLES[TOTAL]
active_users_daily_by_platform = ACTIVE_USERS_TABLES[BY_PLATFORM]
active_users_daily_by_app_version = ACTIVE_USERS_TABLES[BY_APP_VERSION]
PARTITION_COLUMNS.update({table.name: "event_date" for table in ACTIVE_USERS_TABLES.values()})
__all__ += ["ACTIVE_USERS_TABLES", *(table.name for table in ACTIVE_USERS_TABLES.values())]


# Lifecycle and retention, from the retention layer (`layers/retention.py`, definitions in
# `transforms/retention.py`): exact distinct people after identity stitching.
_LIFECYCLE_STATES = (
    "new: active in the period and first seen in it; returning: active in the period and the previous one; "
    "resurrecting: active in the period, not the previous one, first seen before the period; dormant: active "
    "in the previous period, not this one. new + returning + resurrecting = active_users; returning + "
    "dormant = previous_active_users."
)


def _lifecycle_counts(period: str) -> list[sa.Column[int]]:
    also = f"Distinct people: do not add up across rows (over {period}s they would count person-{period}s)."
    return [
        _count("active_users", f"People active in the {period}. {also}"),
        _count("new_users", f"Of them, people first seen in the {period}. Sums across {period}s (new once)."),
        _count("returning_users", f"Of them, people also active in the previous {period}. {also}"),
        _count(
            "resurrecting_users",
            f"Of them, people not active in the previous {period} and first seen before this one. {also}",
        ),
        _count(
            "dormant_users",
            f"People active in the previous {period} and not in this one (a positive count; chart it negative). {also}",
        ),
        _count("previous_active_users", f"People active in the previous {period}. {also}"),
    ]


lifecycle_daily = sa.Table(
    "lifecycle_daily",
    metadata,
    _date_key("event_date", "The day (UTC) whose people are counted."),
    *_lifecycle_counts("day"),
    comment=f"Lifecycle of the day's people against the day before. {_LIFECYCLE_STATES} "
    "Grain: one row per day; all platforms together.",
)

lifecycle_weekly = sa.Table(
    "lifecycle_weekly",
    metadata,
    _date_key("week_start", "The Monday of the ISO week (UTC)."),
    sa.Column(
        "as_of",
        sa.Date,
        nullable=False,
        comment="The last day of the week built: the row counts the week from Monday through it, rewritten by "
        "each day of the week. Final when it is the Sunday.",
    ),
    sa.Column("days_built", sa.SmallInteger, nullable=False, comment="Days of the week counted: 1 (Monday) to 7."),
    sa.Column("final", sa.Boolean, nullable=False, comment="True once the week's Sunday is built (as_of = Sunday)."),
    *_lifecycle_counts("week"),
    comment=f"Lifecycle of the ISO week's people (Monday through as_of) against the whole week before. "
    f"{_LIFECYCLE_STATES} Until the Sunday is built the row is as of its as_of day. "
    "Grain: one row per day (the Monday of each ISO week: week_start); all platforms together.",
)

_DEFINITIONS = (
    "How cohorts start and what counts as a return: first_seen (start: first seen; return: any activity), or "
    "anchored (start: the first day the person sent start_event; return: a day they sent return_event, from "
    "the start day on; REVOLT_RETENTION_START_EVENT, REVOLT_RETENTION_RETURN_EVENT). Always filter on one."
)


def _retention(name: str, cohort: sa.Column, period_words: str, horizon: int, more: list[sa.Column]) -> sa.Table:
    unit = "week" if "week" in name else "day"
    return sa.Table(
        name,
        metadata,
        cohort,
        sa.Column("definition", sa.String(16), primary_key=True, comment=_DEFINITIONS),
        sa.Column(
            "period",
            sa.SmallInteger,
            primary_key=True,
            comment=f"{period_words} 0 to {horizon}: the cohort's own {unit} is 0. A row appears once the period's "
            "first day is built.",
        ),
        sa.Column(
            "as_of",
            sa.Date,
            nullable=False,
            comment="The last day built when the row was written: counts are as of that day; rewritten by each "
            f"day of the cohort's horizon ({unit}s 0 to {horizon}).",
        ),
        sa.Column(
            "start_event",
            sa.String(REPORT_TEXT_CHARS["start_event"]),
            comment="The anchored definition's start event; NULL: first seen.",
        ),
        sa.Column(
            "return_event",
            sa.String(REPORT_TEXT_CHARS["return_event"]),
            comment="The anchored definition's return event; NULL: any activity.",
        ),
        _count("cohort_size", "People in the cohort. Repeated on each period's row: never sum it over periods."),
        _count(
            "retained",
            f"Of them, people active (or sending the return event) in exactly this {unit}. Does not sum over periods.",
        ),
        _count(
            "retained_or_later",
            f"Of them, people active in this {unit} or any later one up to {unit} {horizon}, as of as_of. "
            "Never below retained; never rises with period.",
        ),
        *more,
        sa.Column(
            "final",
            sa.Boolean,
            nullable=False,
            comment=f"True once the cohort's {unit} {horizon} is built: later days no longer change the row.",
        ),
        comment=f"Retention of cohorts by {'ISO week (Monday)' if unit == 'week' else 'day'} of their start, "
        f"{unit}s 0 to {horizon}: exact distinct people after identity stitching. "
        f"Grain: one row per day x definition x period (the day: {cohort.name}, the cohort's "
        f"{'Monday' if unit == 'week' else 'day'}); all platforms together.",
    )


retention_daily = _retention(
    "retention_daily",
    _date_key("cohort_date", "The cohort: the day (UTC) its people started."),
    "Days after the cohort's day:",
    30,
    [],
)
retention_weekly = _retention(
    "retention_weekly",
    _date_key("cohort_week", "The cohort: the Monday of the ISO week its people started."),
    "ISO weeks after the cohort's week:",
    12,
    [
        sa.Column(
            "period_complete",
            sa.Boolean,
            nullable=False,
            comment="True once the period's Sunday is built; before, retained counts the week so far.",
        )
    ],
)
RETENTION_TABLES = (lifecycle_daily, lifecycle_weekly, retention_daily, retention_weekly)
"""Lifecycle and retention tables, each loaded from lake files of the same name (`layers/retention.py`)."""
PARTITION_COLUMNS.update({table.name: table.columns[0].name for table in RETENTION_TABLES})
__all__ += ["RETENTION_TABLES", *(table.name for table in RETENTION_TABLES)]
