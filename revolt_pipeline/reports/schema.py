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

import datetime
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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


# People, from the people layer (`layers/people.py`): person days, day-partitioned like the tables above, and
# `people`, one row per person as of the latest day built (replaced whole, never partitioned by day).
class UtcTimestamp(sa.types.TypeDecorator):
    """A UTC timestamp (PostgreSQL `timestamptz`), read back aware on SQLite too, so both give equal rows."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime.datetime | None, dialect: sa.Dialect) -> datetime.datetime | None:
        return value.replace(tzinfo=datetime.UTC) if value is not None and value.tzinfo is None else value


class JsonText(sa.types.TypeDecorator):
    """JSON loaded as text: `jsonb` in PostgreSQL (traits->>'key'), text in SQLite; read back parsed on both."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(postgresql.JSONB() if dialect.name == "postgresql" else sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        # jsonb serializes what it is given: JSON text is parsed first, so it is stored as the object it is.
        return json.loads(value) if dialect.name == "postgresql" and isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return json.loads(value) if isinstance(value, str) else value


def _timestamp(name: str, comment: str) -> sa.Column[datetime.datetime]:
    return sa.Column(name, UtcTimestamp(), comment=comment)


def _text(name: str, comment: str, nullable: bool = True) -> sa.Column[str]:
    """Client text of no fixed length (PostgreSQL's `text`), NUL made U+FFFD (transforms/people_reports.py)."""
    return sa.Column(name, sa.Text, nullable=nullable, comment=comment)


_PERSON_ID = (
    "The person, after identity stitching: the user id their ids lead to, else their anonymous id "
    "(an id that held a NUL ends with … and 8 hex digits of its MD5)."
)
_USER_ID = "The user id (identify or any call with a userId, or stitched to one); NULL while anonymous."

person_days = sa.Table(
    "person_days",
    metadata,
    _date_key("event_date", "The day (UTC) the person was active."),
    sa.Column("person_id", sa.Text, primary_key=True, comment=_PERSON_ID),
    _text("user_id", _USER_ID),
    sa.Column("identified", sa.Boolean, nullable=False, comment="Known by a user id on the day (or stitched to one)."),
    _count("events", "The person's events of the day (duplicates once). Sums across rows."),
    _count("sessions", "Sessions the person started on the day. Sums across rows."),
    _seconds("seconds", "Seconds of those sessions (first to last event), added up. Sums across rows."),
    _text(
        "platforms",
        "The platforms the person used on the day, sorted, comma-separated (`android,web`); `unknown` where the "
        "app did not say. Filter with LIKE '%web%' or split it; does not sum.",
        nullable=False,
    ),
    _timestamp("first_event_at", "The person's first event of the day (UTC)."),
    _timestamp("last_event_at", "The person's last event of the day (UTC)."),
    sa.Index("ix_person_days_person_id", "person_id"),
    comment="Who was active each day: the base of exact distinct counts over any period (count(DISTINCT "
    "person_id) over the days you choose). Grain: one row per day x person_id.",
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("person_id", sa.Text, primary_key=True, comment=_PERSON_ID),
    _text("user_id", _USER_ID),
    sa.Column("identified", sa.Boolean, nullable=False, comment="Known by a user id (or stitched to one)."),
    sa.Column("first_seen", sa.Date, nullable=False, comment="The day (UTC) of the person's first event."),
    sa.Column("last_seen", sa.Date, nullable=False, comment="The day (UTC) of the person's latest event."),
    _timestamp("first_seen_at", "The person's first event (UTC)."),
    _timestamp("last_seen_at", "The person's latest event (UTC)."),
    sa.Column(
        "first_platform",
        sa.String(REPORT_TEXT_CHARS["platform"]),
        comment="The platform of the person's first event (as in the breakdown tables).",
    ),
    sa.Column(
        "latest_platform",
        sa.String(REPORT_TEXT_CHARS["platform"]),
        comment="The platform of the person's latest event.",
    ),
    sa.Column(
        "latest_app_version",
        sa.String(REPORT_TEXT_CHARS["app_version"]),
        comment="The app version of the person's latest event that sent one.",
    ),
    _text("latest_os_name", "The OS of the person's latest event that sent one (context.os.name)."),
    _text("latest_os_version", "The OS version of the person's latest event that sent one (context.os.version)."),
    _text("latest_locale", "The locale of the person's latest event that sent one (context.locale)."),
    _text("latest_country", "The country of the person's latest event, where the pipeline knows it; else NULL."),
    _text("email", "Trait `email` of the latest identify that set it."),
    _text("name", "Trait `name` of the latest identify that set it."),
    _text("plan", "Trait `plan` of the latest identify that set it."),
    _text("team", "Trait `team` of the latest identify that set it."),
    _timestamp("created_at", "Trait `createdAt`, when it is a timestamp; else NULL (the text stays in traits)."),
    sa.Column(
        "traits",
        JsonText(),
        comment="Every trait, merged key by key over the person's identify calls, the latest value winning "
        "(jsonb in PostgreSQL: traits->>'company'; JSON text in SQLite: json_extract(traits, '$.company')).",
    ),
    _timestamp("traits_updated_at", "When the latest identify with traits was sent (UTC)."),
    sa.Column("sessions", sa.BigInteger, nullable=False, comment="Sessions started so far. Sums across people."),
    sa.Column("events", sa.BigInteger, nullable=False, comment="Events so far. Sums across people."),
    sa.Column(
        "days_active",
        sa.Integer,
        nullable=False,
        comment="Days with at least one event so far. Sums across people (to person-days).",
    ),
    sa.Column(
        "snapshot_date",
        sa.Date,
        nullable=False,
        comment="The day this table is as of: the latest day of the people layer built (the same on every row).",
    ),
    sa.Index("ix_people_last_seen", "last_seen"),
    sa.Index("ix_people_first_seen", "first_seen"),
    sa.Index("ix_people_user_id", "user_id"),
    comment="Everyone seen so far, as of the latest day built (snapshot_date), after identity stitching: a person "
    "merged into another by a later identify is gone, their history counted in the other's. Replaced whole "
    "on each load. Grain: one row per person_id.",
)

PARTITION_COLUMNS[person_days.name] = "event_date"
# Tables replaced whole by each load, never by day, and the date column saying as of which day.
SNAPSHOT_TABLES = {people.name: "snapshot_date"}
__all__ += ["SNAPSHOT_TABLES", "people", "person_days"]
