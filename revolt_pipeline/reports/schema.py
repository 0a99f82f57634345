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
    BY_COUNTRY,
    BY_DEVICE_TYPE,
    BY_LIBRARY,
    BY_LOCALE,
    BY_OS,
    BY_PLATFORM,
    BY_SOURCE,
    DIMENSION_GRAINS,
    DURATION_BUCKETS,
    GRAINS,
    PERCENTILES,
    TOTAL,
    Grain,
    within_app_versions,
)
from revolt_pipeline.transforms.funnels import FUNNEL_NAME_CHARS, STEP_NAME_CHARS
from revolt_pipeline.transforms.report_text import REPORT_TEXT_CHARS

metadata = sa.MetaData()

_NOT_SUMMABLE = "Distinct people: do not add up across rows (a person active in two {groups} counts in both)."
# Per grain: what a row stands for besides its day (the table COMMENT's end), and the groups a person counts in
# once each (the people columns' COMMENTs).
_ADDS_UP_OVER_VERSIONS = (
    "; events add up over platforms and app versions, so SUM(events) grouped by day and {dimensions} gives "
    "{what} across platforms"
)
_GRAIN_WORDS = {
    TOTAL: ("all platforms and app versions together", "days"),
    BY_PLATFORM: ("per platform", "platforms or days"),
    BY_APP_VERSION: ("per platform and app version", "app versions or days"),
    BY_OS: ("per operating system and its version, all platforms together", "OS versions or days"),
    within_app_versions(BY_OS): (
        "per operating system and its version within each platform and app version"
        + _ADDS_UP_OVER_VERSIONS.format(dimensions="os_name, os_version", what="each OS version's events"),
        "platforms, app versions, OS versions or days",
    ),
    BY_DEVICE_TYPE: ("per device type, all platforms together", "device types or days"),
    BY_COUNTRY: (
        "per country and the method that found it, all platforms together",
        "country and method pairs or days",
    ),
    within_app_versions(BY_COUNTRY): (
        "per country and the method that found it within each platform and app version"
        + _ADDS_UP_OVER_VERSIONS.format(dimensions="country", what="each country's events"),
        "platforms, app versions, country and method pairs or days",
    ),
    BY_LOCALE: ("per locale, all platforms together", "locales or days"),
    BY_SOURCE: ("per source (app sending events)", "sources or days"),
    BY_LIBRARY: ("per SDK library and its version", "library versions or days"),
}
_DIMENSION_COMMENTS = {
    "platform": "The platform (ios, android, web, ...; `unknown` if the app did not say). "
    "A filter: each row is one platform's share.",
    "app_version": "The app version (context.app.version; `unknown` if the app did not say), within its platform.",
    "os_name": "The operating system (context.os.name: iOS, Android, macOS, Windows, ...; `unknown` if not sent).",
    "os_version": "The operating system's version (context.os.version; `unknown` if not sent), within os_name.",
    "device_type": "The device type the SDK reports (context.device.type: ios, android, ...; `unknown` if not sent).",
    "country": "ISO 3166-1 alpha-2 country code: from the IP address (context.ip, else the sender's address) "
    "through an offline registry lookup, else from the time zone (context.timezone); `unknown` if neither told. "
    "country_method says which.",
    "country_method": "How the country was found: `ip` (the address, looked up offline), `timezone` (the device's "
    "time zone, when no address told) or `unknown` (neither; country is `unknown` too). Sum over it for a country.",
    "locale": "The device's locale as sent (context.locale, e.g. en-US; `unknown` if not sent).",
    "source": "The source (app) whose write key sent the events, as named in the sources file.",
    "library_name": "The SDK library that sent the events (context.library.name; `unknown` if not sent).",
    "library_version": "The SDK library's version (context.library.version; `unknown` if not sent), "
    "within library_name.",
}


def _text_key(name: str, comment: str) -> sa.Column[str]:
    """A primary-key text column, as long as the report's rule for `name` allows."""
    return sa.Column(name, sa.String(REPORT_TEXT_CHARS[name]), primary_key=True, comment=comment)


def _date_key(name: str, comment: str) -> sa.Column[sa.Date]:
    return sa.Column(name, sa.Date, primary_key=True, comment=comment)


def _count(name: str, comment: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, comment=comment)


def _people(name: str, grain: Grain, what: str) -> sa.Column[int]:
    return _count(name, f"{what} {_NOT_SUMMABLE.format(groups=_GRAIN_WORDS[grain][1])}")


def _seconds(name: str, comment: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float, nullable=nullable, comment=comment)


def _dimensions(grain: Grain) -> list[sa.Column[str]]:
    return [_text_key(name, _DIMENSION_COMMENTS[name]) for name in grain.dimensions]


def _filter_index(name: str, grain: Grain) -> list[sa.Index]:
    """The index of a breakdown's usual filter, its first dimension (the platform where there is one); the
    date leads every primary key, so it indexes the date filter."""
    return [sa.Index(f"ix_{name}_{grain.dimensions[0]}", grain.dimensions[0])] if grain.dimensions else []


def _table(subject: str, grain: Grain, about: str, columns: list[sa.Column], grain_columns: str) -> sa.Table:
    name = subject + grain.suffix
    assert name in AGGREGATES, name  # one table per lake aggregate, same name
    comment = f"{about} Grain: one row per {grain_columns}; {_GRAIN_WORDS[grain][0]}."
    dimensions = _dimensions(grain)
    date_column, rest = columns[0], columns[1:]
    return sa.Table(name, metadata, date_column, *dimensions, *rest, *_filter_index(name, grain), comment=comment)


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


_STEP = (
    "A step of the sessions' paths: `page: <name>` (a page without a name: its path), `screen: <name>` or "
    "`track: <event>`; identify, alias and group calls are no steps."
)
_PATH_DAY = "The day the sessions started (UTC): a session crossing midnight counts once, on its first day."


def _path_people(name: str, grain: Grain, what: str, across: str) -> sa.Column[int]:
    groups = _GRAIN_WORDS[grain][1]
    return _count(name, f"{what} Distinct people: do not add up across rows ({across}, {groups}).")


def _path_steps(grain: Grain) -> sa.Table:
    return _table(
        "path_steps",
        grain,
        "The steps of the paths of sessions started on the day, and where sessions start (entries) and end "
        "(exits); immediate repeats of a step (a reload) are one occurrence.",
        [
            _date_key("session_date", _PATH_DAY),
            _text_key("step", _STEP),
            _count("events", "Events that were this step, immediate repeats included. Sums across rows."),
            _count(
                "occurrences",
                "Times the step occurred in the paths, immediate repeats as one: entries + transitions into it, "
                "and exits + transitions out of it. Sums across rows.",
            ),
            _count(
                "sessions_with_step",
                "Sessions with the step. Adds up across days, not across steps (a session has several; "
                "entries add up to the sessions).",
            ),
            _path_people("people", grain, "People with the step in a session.", "steps"),
            _count("entries", "Sessions whose first step it was. Sums across rows: to the sessions with a step."),
            _path_people("entry_people", grain, "People with a session starting at the step.", "steps"),
            _count("exits", "Sessions whose last step it was. Sums across rows: to the sessions with a step."),
            _path_people("exit_people", grain, "People with a session ending at the step.", "steps"),
        ],
        _grain_words(grain, "step"),
    )


def _path_transitions(grain: Grain) -> sa.Table:
    return _table(
        "path_transitions",
        grain,
        "Moves from one step straight to the next in the paths of sessions started on the day (immediate repeats "
        "collapsed, so never from a step to itself).",
        [
            _date_key("session_date", _PATH_DAY),
            _text_key("from_step", f"The step moved from. {_STEP}"),
            _text_key("to_step", "The step moved to, the very next one of the session."),
            _count("transitions", "Times a session moved from from_step straight to to_step. Sums across rows."),
            _count(
                "sessions_with_transition",
                "Sessions that made the move at least once. Adds up across days, not across moves (a session "
                "makes several).",
            ),
            _path_people("people", grain, "People who made the move.", "moves"),
        ],
        _grain_words(grain, "from_step", "to_step"),
    )


_SUBJECT_TABLES = {
    "daily_active_users": _daily_active_users,
    "sessions_daily": _sessions_daily,
    "events_daily": _events_daily,
    "session_duration_histogram": _session_duration_histogram,
    "session_duration_percentiles": _session_duration_percentiles,
    "path_steps": _path_steps,
    "path_transitions": _path_transitions,
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
events_daily_by_os = AGGREGATE_TABLES["events_daily_by_os"]
events_daily_by_device_type = AGGREGATE_TABLES["events_daily_by_device_type"]
events_daily_by_country = AGGREGATE_TABLES["events_daily_by_country"]
events_daily_by_locale = AGGREGATE_TABLES["events_daily_by_locale"]
events_daily_by_source = AGGREGATE_TABLES["events_daily_by_source"]
events_daily_by_library = AGGREGATE_TABLES["events_daily_by_library"]
path_steps = AGGREGATE_TABLES["path_steps"]
path_steps_by_platform = AGGREGATE_TABLES["path_steps_by_platform"]
path_steps_by_app_version = AGGREGATE_TABLES["path_steps_by_app_version"]
path_transitions = AGGREGATE_TABLES["path_transitions"]
path_transitions_by_platform = AGGREGATE_TABLES["path_transitions_by_platform"]
path_transitions_by_app_version = AGGREGATE_TABLES["path_transitions_by_app_version"]

event_catalog = sa.Table(
    "event_catalog",
    metadata,
    _date_key("received_date", "The day the collector received the events (UTC), not the day they happened."),
    _text_key("event_type", "The message type: track, page, screen, identify, group or alias."),
    _text_key("event_name", "The track event, the page or screen name, or the type for other messages."),
    _text_key("property", "A property (or, for identify and group, a trait) the events carried, by its JSON path."),
    _text_key("json_type", "The property's JSON type: string, integer, number, boolean, object, array or null."),
    _count("events", "Events that carried the property with this type. Sums across types of one property."),
    # The PII scanner (transforms/pii.py): string values that look like personal data.
    sa.Column(
        "likely_pii",
        sa.String(8),
        nullable=True,
        comment="The kind of personal data the property's string values look like (email, phone, ip or card), when "
        "at least a tenth of them do; NULL otherwise. The raw layer keeps them as sent; cleaning hashes or drops "
        "only the keys configured (REVOLT_PII_HASH_KEYS, REVOLT_PII_DROP_KEYS).",
    ),
    _count(
        "likely_pii_values",
        "String values of the row that look like an email, phone number, IP address or card number (0 for other "
        "types). Sums across types and days.",
    ),
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
        f"across {_GRAIN_WORDS[grain][1].removesuffix(' or days')} (a new person active in two counts in both)."
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
    indexes = _filter_index(name, grain)
    comment = (
        "Active users (DAU, WAU, MAU), stickiness and new users: exact distinct people after identity stitching. "
        f"Grain: one row per {_grain_words(grain)} with people active in the MAU window; "
        f"{_GRAIN_WORDS[grain][0]}."
    )
    return sa.Table(name, metadata, *columns, *indexes, comment=comment)


ACTIVE_USERS_TABLES: dict[Grain, sa.Table] = {grain: _active_users(grain) for grain in GRAINS + DIMENSION_GRAINS}
"""The active-users tables by grain: totals, per platform, per platform and app version, and per dimension of the
device (OS, device type, country, locale, source, SDK library)."""
active_users_daily = ACTIVE_USERS_TABLES[TOTAL]
active_users_daily_by_platform = ACTIVE_USERS_TABLES[BY_PLATFORM]
active_users_daily_by_app_version = ACTIVE_USERS_TABLES[BY_APP_VERSION]
active_users_daily_by_os = ACTIVE_USERS_TABLES[BY_OS]
active_users_daily_by_device_type = ACTIVE_USERS_TABLES[BY_DEVICE_TYPE]
active_users_daily_by_country = ACTIVE_USERS_TABLES[BY_COUNTRY]
active_users_daily_by_locale = ACTIVE_USERS_TABLES[BY_LOCALE]
active_users_daily_by_source = ACTIVE_USERS_TABLES[BY_SOURCE]
active_users_daily_by_library = ACTIVE_USERS_TABLES[BY_LIBRARY]
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
    _text(
        "latest_country_method",
        "How latest_country was found: `ip` (the address, looked up offline) or `timezone` (the device's time zone); "
        "NULL with it.",
    ),
    sa.Column(
        "first_app_version",
        sa.String(REPORT_TEXT_CHARS["app_version"]),
        comment="The app version of the person's first event that sent one.",
    ),
    _text("first_os_name", "The OS of the person's first event that sent one (context.os.name)."),
    _text("first_os_version", "The OS version of the person's first event that sent one (context.os.version)."),
    _text("first_locale", "The locale of the person's first event that sent one (context.locale)."),
    _text("first_country", "The country of the person's first event whose country the pipeline knows; else NULL."),
    _text("first_country_method", "How first_country was found: `ip` or `timezone`; NULL with it."),
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
    sa.Index("ix_people_latest_platform", "latest_platform"),  # the platform filter of people lists
    comment="Everyone seen so far, as of the latest day built (snapshot_date), after identity stitching: a person "
    "merged into another by a later identify is gone, their history counted in the other's. Replaced whole "
    "on each load. Grain: one row per person_id.",
)

PARTITION_COLUMNS[person_days.name] = "event_date"
# Tables replaced whole by each load, never by day, and the date column saying as of which day.
SNAPSHOT_TABLES = {people.name: "snapshot_date"}
__all__ += ["SNAPSHOT_TABLES", "people", "person_days"]


# Funnels, from the funnels layer (`layers/funnels.py`): people through the steps of each funnel of
# REVOLT_FUNNELS_FILE, by the day (or ISO week) they entered, exact distinct people after identity stitching.
def _funnel_steps(
    name: str, period: list[sa.Column], by_platform: bool, grain: str, when: str, by_app_version: bool = False
) -> sa.Table:
    counted = (
        "Each person counts once a week, on the platform of the attempt counted (their furthest of the week)"
        if "week" in when
        else "Each person's attempt counts on one platform"
    )
    platform = (
        [
            _text_key(
                "platform",
                "The platform people entered the funnel on (their step 1 event's; `unknown` if the app did not say). "
                f"{counted}: entered and reached sum across platforms.",
            )
        ]
        if by_platform
        else []
    )
    if by_app_version:
        platform.append(
            _text_key(
                "app_version",
                "The app version people entered the funnel on, of that platform (their step 1 event's; `unknown` if "
                "the app did not say). Each person's attempt counts on one: entered and reached sum across a "
                "platform's app versions to the platform's.",
            )
        )
    sums = (
        "Sums across app versions and platforms of one step."
        if by_app_version
        else "Sums across platforms of one step."
        if by_platform
        else "Does not sum across steps or days."
    )
    ratio = "A ratio: recompute from entered and reached, never add or average rows. NULL when nothing to divide by."
    median = "Exact median in seconds over the people who reached the step (interpolated between the two middle ones)"
    columns = [
        *period,
        sa.Column(
            "funnel", sa.String(FUNNEL_NAME_CHARS), primary_key=True, comment="The funnel's name in the funnels file."
        ),
        *platform,
        sa.Column(
            "step", sa.SmallInteger, primary_key=True, comment="The step's position in the funnel: 1 is the entry."
        ),
        sa.Column(
            "step_name",
            sa.String(STEP_NAME_CHARS),
            nullable=False,
            comment="The step's label (its event's name unless labelled).",
        ),
        _count("entered", f"People who entered the funnel (did step 1) {when}; the same on every step's row. {sums}"),
        _count("reached", f"Of them, people who reached this step within the funnel's window. {sums}"),
        sa.Column("conversion_from_start", sa.Float, comment=f"reached / entered. {ratio}"),
        sa.Column(
            "conversion_from_previous",
            sa.Float,
            comment=f"reached / the previous step's reached (step 1: / entered). {ratio}",
        ),
        sa.Column(
            "median_seconds_from_previous",
            sa.Float,
            comment=f"{median}, from the previous step to this one; NULL on step 1 and when no one reached it.",
        ),
        sa.Column(
            "median_seconds_from_start",
            sa.Float,
            comment=f"{median}, from step 1 to this one; NULL on step 1 and when no one reached it.",
        ),
    ]
    indexes = [sa.Index(f"ix_{name}_platform", "platform")] if by_platform else []
    if by_app_version:
        indexes.append(sa.Index(f"ix_{name}_app_version", "app_version"))
    comment = (
        "People through the steps of each funnel (REVOLT_FUNNELS_FILE), exact distinct people after identity "
        f"stitching, by the {'week' if 'week' in when else 'day'} they entered. Grain: one row per {grain}."
    )
    return sa.Table(name, metadata, *columns, *indexes, comment=comment)


_ENTRY_DAY = _date_key(
    "event_date", "The day (UTC) people entered the funnel; their later steps may fall on the days after."
)
funnel_steps_daily = _funnel_steps(
    "funnel_steps_daily",
    [_ENTRY_DAY],
    False,
    "day x funnel x step; every step of every funnel, 0 on a day no one entered",
    "on the day",
)
funnel_steps_daily_by_platform = _funnel_steps(
    "funnel_steps_daily_by_platform",
    [_date_key("event_date", _ENTRY_DAY.comment or "")],
    True,
    "day x funnel x platform x step, for the platforms people entered on",
    "on the day",
)
funnel_steps_daily_by_app_version = _funnel_steps(
    "funnel_steps_daily_by_app_version",
    [_date_key("event_date", _ENTRY_DAY.comment or "")],
    True,
    "day x funnel x platform x app_version x step, for the platforms' app versions people entered on",
    "on the day",
    by_app_version=True,
)


def _week_columns() -> list[sa.Column[Any]]:
    return [
        _date_key("week_start", "The Monday of the ISO week (UTC) people entered the funnel in."),
        sa.Column(
            "as_of_date",
            sa.Date,
            nullable=False,
            comment="The latest day of the week built: before the week is over, the week so far.",
        ),
    ]


_ONCE_A_WEEK = "each person once a week, their furthest attempt (the earliest among equals)"
funnel_steps_weekly = _funnel_steps(
    "funnel_steps_weekly",
    _week_columns(),
    False,
    f"ISO week x funnel x step, as of the latest day built in the week; {_ONCE_A_WEEK}",
    "in the week",
)
funnel_steps_weekly_by_platform = _funnel_steps(
    "funnel_steps_weekly_by_platform",
    _week_columns(),
    True,
    f"ISO week x funnel x platform x step, as of the latest day built in the week; {_ONCE_A_WEEK}, counted on "
    "the platform that attempt entered on (a person who used two platforms in the week counts on one)",
    "in the week",
)
FUNNEL_TABLES = (
    funnel_steps_daily,
    funnel_steps_daily_by_platform,
    funnel_steps_daily_by_app_version,
    funnel_steps_weekly,
    funnel_steps_weekly_by_platform,
)
"""The funnel step tables, daily before weekly."""
PARTITION_COLUMNS.update({table.name: table.columns[0].name for table in FUNNEL_TABLES})
__all__ += ["FUNNEL_TABLES", *(table.name for table in FUNNEL_TABLES)]
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
    "Grain: one row per ISO week (its Monday: week_start); all platforms together.",
)

_ON_ITS_OWN = (
    "States judged on the activity with the {value} alone (as a filtered lifecycle does): new = active with it "
    "in the {period} for the first time ever, returning = active with it in the previous {period} too, "
    "resurrecting = active with it before but not in the previous {period}, dormant = active with it in the "
    "previous {period}, not in this one. A person active with two {values} counts in each, and can be new on "
    "one and returning on another: rows do not add up to lifecycle_{unit}ly (read it for everyone). Within a row "
    "new + returning + resurrecting = active_users (the {value}'s active people of the {period}) and returning "
    "+ dormant = previous_active_users."
)


def _lifecycle_by(name: str, leading: list[sa.Column], by_app_version: bool) -> sa.Table:
    unit = "week" if "weekly" in name else "day"
    value, values = (
        ("platform and app version", "platforms or app versions")
        if by_app_version
        else (
            "platform",
            "platforms",
        )
    )
    dimensions = [
        _text_key(
            "platform",
            "The platform (ios, android, web, ...; `unknown` if the app did not say) the people were active on: "
            "one row per platform someone was active on in the period or the one before.",
        )
    ]
    if by_app_version:
        dimensions.append(
            _text_key(
                "app_version",
                "The app version, within its platform (`unknown` if the app did not say): states judged on that "
                "platform's version alone.",
            )
        )
    indexes = [sa.Index(f"ix_{name}_platform", "platform")]
    grain = " x ".join(["ISO week" if unit == "week" else "day", *(c.name for c in dimensions)])
    as_of = " Until the Sunday is built the row is as of its as_of day." if unit == "week" else ""
    return sa.Table(
        name,
        metadata,
        *leading,
        *dimensions,
        *_lifecycle_counts(unit),
        *indexes,
        comment=f"Lifecycle of the {unit}'s people per {value} against the {unit} before. "
        + _ON_ITS_OWN.format(value=value, values=values, period=unit, unit="dai" if unit == "day" else "week")
        + f"{as_of} Grain: one row per {grain}{' (the week: its Monday, week_start)' if unit == 'week' else ''}.",
    )


def _week_columns_of_lifecycle() -> list[sa.Column]:
    return [
        _date_key("week_start", "The Monday of the ISO week (UTC)."),
        sa.Column(
            "as_of",
            sa.Date,
            nullable=False,
            comment="The last day of the week built: the rows count the week from Monday through it, rewritten by "
            "each day of the week. Final when it is the Sunday.",
        ),
        sa.Column("days_built", sa.SmallInteger, nullable=False, comment="Days of the week counted: 1 (Monday) to 7."),
        sa.Column(
            "final", sa.Boolean, nullable=False, comment="True once the week's Sunday is built (as_of = Sunday)."
        ),
    ]


def _lifecycle_day() -> list[sa.Column]:
    return [_date_key("event_date", "The day (UTC) whose people are counted.")]


lifecycle_daily_by_platform = _lifecycle_by("lifecycle_daily_by_platform", _lifecycle_day(), False)
lifecycle_daily_by_app_version = _lifecycle_by("lifecycle_daily_by_app_version", _lifecycle_day(), True)
lifecycle_weekly_by_platform = _lifecycle_by("lifecycle_weekly_by_platform", _week_columns_of_lifecycle(), False)
lifecycle_weekly_by_app_version = _lifecycle_by("lifecycle_weekly_by_app_version", _week_columns_of_lifecycle(), True)

_DEFINITIONS = (
    "How cohorts start and what counts as a return: first_seen (start: first seen; return: any activity), or "
    "anchored (start: the first day the person sent start_event; return: a day they sent return_event, from "
    "the start day on; REVOLT_RETENTION_START_EVENT, REVOLT_RETENTION_RETURN_EVENT). Always filter on one."
)


_ACQUIRED = (
    "Each cohort split by what its people were acquired on: the platform and app version of the event that put "
    "them in it (their first event; anchored: their first start event). Returns count on any platform, so a "
    "cohort's rows add up across app versions and platforms to retention_{unit}'s (cohort_size, retained, "
    "retained_or_later; a person counts under one platform and version). Rates: recompute from the sums."
)


def _acquisition(unit: str) -> list[sa.Column[str]]:
    return [
        _text_key(
            "platform",
            "The platform of the event that put the person in the cohort (`unknown` if the app did not say). "
            f"Each person counts on one: sums across platforms to retention_{unit}'s.",
        ),
        _text_key(
            "app_version",
            "The app version of that event, within its platform (`unknown` if the app did not say). Each person "
            "counts on one: sums across a platform's app versions, and across platforms of one version.",
        ),
    ]


def _retention(
    name: str,
    cohort: sa.Column,
    period_words: str,
    horizon: int,
    more: list[sa.Column],
    by_app_version: bool = False,
) -> sa.Table:
    unit = "week" if "week" in name else "day"
    split = _ACQUIRED.format(unit=unit) + " " if by_app_version else ""
    grain = "x platform x app_version " if by_app_version else ""
    breakdown = "per platform and app version people were acquired on" if by_app_version else "all platforms together"
    indexes = (
        [sa.Index(f"ix_{name}_platform", "platform"), sa.Index(f"ix_{name}_app_version", "app_version")]
        if by_app_version
        else []
    )
    return sa.Table(
        name,
        metadata,
        cohort,
        sa.Column("definition", sa.String(16), primary_key=True, comment=_DEFINITIONS),
        *(_acquisition(unit) if by_app_version else []),
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
        *indexes,
        comment=f"Retention of cohorts by {'ISO week (Monday)' if unit == 'week' else 'day'} of their start, "
        f"{unit}s 0 to {horizon}: exact distinct people after identity stitching. {split}"
        f"Grain: one row per day x definition {grain}x period (the day: {cohort.name}, the cohort's "
        f"{'Monday' if unit == 'week' else 'day'}); {breakdown}.",
    )


def _day_retention(name: str, by_app_version: bool = False) -> sa.Table:
    cohort = _date_key("cohort_date", "The cohort: the day (UTC) its people started.")
    return _retention(name, cohort, "Days after the cohort's day:", 30, [], by_app_version)


def _week_retention(name: str, by_app_version: bool = False) -> sa.Table:
    cohort = _date_key("cohort_week", "The cohort: the Monday of the ISO week its people started.")
    complete = sa.Column(
        "period_complete",
        sa.Boolean,
        nullable=False,
        comment="True once the period's Sunday is built; before, retained counts the week so far.",
    )
    return _retention(name, cohort, "ISO weeks after the cohort's week:", 12, [complete], by_app_version)


retention_daily = _day_retention("retention_daily")
retention_daily_by_app_version = _day_retention("retention_daily_by_app_version", by_app_version=True)
retention_weekly = _week_retention("retention_weekly")
retention_weekly_by_app_version = _week_retention("retention_weekly_by_app_version", by_app_version=True)
RETENTION_TABLES = (
    lifecycle_daily,
    lifecycle_weekly,
    lifecycle_daily_by_platform,
    lifecycle_daily_by_app_version,
    lifecycle_weekly_by_platform,
    lifecycle_weekly_by_app_version,
    retention_daily,
    retention_weekly,
    retention_daily_by_app_version,
    retention_weekly_by_app_version,
)
"""Lifecycle and retention tables, each loaded from lake files of the same name (`layers/retention.py`)."""
PARTITION_COLUMNS.update({table.name: table.columns[0].name for table in RETENTION_TABLES})
__all__ += ["RETENTION_TABLES", *(table.name for table in RETENTION_TABLES)]

churn_scores = sa.Table(
    "churn_scores",
    metadata,
    _date_key(
        "as_of_date",
        "The day (UTC) the scores are as of: features from events through its end, the cutoff the midnight after.",
    ),
    sa.Column("person_id", sa.Text, primary_key=True, comment=_PERSON_ID),
    sa.Column(
        "score",
        sa.Float,
        nullable=False,
        comment="Probability (0 to 1) that the person has no activity in the churn horizon after the as-of day "
        "(REVOLT_CHURN_HORIZON_DAYS, 14 by default), from the gradient boosting model. Do not add up.",
    ),
    sa.Column(
        "risk_band",
        sa.String(8),
        nullable=False,
        comment="high (score at least 0.5), medium (at least 0.2) or low.",
    ),
    sa.Column(
        "days_since_last_active",
        sa.Integer,
        nullable=False,
        comment="Days from the person's latest active day to the cutoff (1: active on the as-of day).",
    ),
    _text(
        "top_factors",
        "The features that raise this person's score most, as `feature=value (+change)` separated by `; `: how much "
        "the score falls when that one feature is set to its typical value (the training median). Empty when "
        "no feature raises it.",
        nullable=False,
    ),
    _text("model_version", "The model's folder in the object store (models/churn/as_of_date=...).", nullable=False),
    comment="Churn risk of each person active in the 28 days up to the end of as_of_date, scored by the churn model "
    "trained for that day (ml_job). Grain: one row per day x person_id.",
)
PARTITION_COLUMNS[churn_scores.name] = "as_of_date"
__all__ += ["churn_scores"]


# Recommendations and segments (issue 9): trained as of the end of a day, one partition per day, like
# churn_scores (join them on as_of_date and person_id), so a BI user follows them over time
# (`layers/recommendations.py`, `layers/segments.py`).
_AS_OF = "The day (UTC) the model is as of: it learnt from events through its end, the cutoff the midnight after."
recommendations = sa.Table(
    "recommendations",
    metadata,
    _date_key("as_of_date", _AS_OF),
    sa.Column("person_id", sa.Text, primary_key=True, comment=_PERSON_ID),
    sa.Column("rank", sa.Integer, primary_key=True, comment="1 for the item to suggest first, then 2, 3, ..."),
    sa.Column(
        "item",
        sa.String(REPORT_TEXT_CHARS["item"]),
        nullable=False,
        comment="A feature, screen or event the person has not used in the training window, named as paths name "
        "steps (`track: Invoice Sent`, `screen: Timesheet`).",
    ),
    sa.Column(
        "score",
        sa.Float,
        nullable=False,
        comment="How strongly the person's items point to this one: the sum of the item's co-occurrence "
        "similarities with them (0 when none does; ties then go to the more used item). Compare within a person; "
        "does not sum.",
    ),
    sa.Index("ix_recommendations_person_id", "person_id"),
    comment="Which features, screens or events to suggest to each person active in the training window, by "
    "item-item co-occurrence. Grain: one row per day x person_id x rank.",
)
person_segments = sa.Table(
    "person_segments",
    metadata,
    _date_key("as_of_date", _AS_OF),
    sa.Column("person_id", sa.Text, primary_key=True, comment=_PERSON_ID),
    sa.Column(
        "segment",
        sa.Integer,
        nullable=False,
        comment="The person's behavioural segment as of the day: 0 the largest, then by size. Numbers are "
        "the day's own: follow a segment over time by its description.",
    ),
    sa.Column(
        "description", sa.Text, nullable=False, comment="The segment in plain words, from its centre (segment_sizes)."
    ),
    sa.Index("ix_person_segments_person_id", "person_id"),
    comment="Each person active in the 28 days through the day and the behavioural segment their usage "
    "falls in. Grain: one row per day x person_id.",
)
segment_sizes = sa.Table(
    "segment_sizes",
    metadata,
    _date_key("as_of_date", _AS_OF),
    sa.Column("segment", sa.Integer, primary_key=True, comment="The segment (as in person_segments)."),
    sa.Column(
        "description",
        sa.Text,
        nullable=False,
        comment="The segment in plain words from its centre: how often (daily, weekly, occasional), on what "
        "platform, how intensely, and the features it uses far more than everyone.",
    ),
    _count(
        "people",
        "People in the segment. They add up across the segments of one day (each person is in one), but do not "
        "add up across rows of different days (a person is segmented on each).",
    ),
    sa.Column(
        "share",
        sa.Float,
        nullable=False,
        comment="people / everyone segmented on the day. Sums to 1 across the segments of a day.",
    ),
    comment="The behavioural segments as of each day and their sizes: segment sizes over time. Grain: one row "
    "per day x segment.",
)
RECOMMENDATION_TABLES = (recommendations,)
SEGMENT_TABLES = (person_segments, segment_sizes)
"""Models' outputs, each loaded from lake files of the same name (`layers/recommendations.py`, `layers/segments.py`)."""
PARTITION_COLUMNS.update({table.name: "as_of_date" for table in (*RECOMMENDATION_TABLES, *SEGMENT_TABLES)})
__all__ += ["RECOMMENDATION_TABLES", "SEGMENT_TABLES", *(t.name for t in (*RECOMMENDATION_TABLES, *SEGMENT_TABLES))]


# A person's sessions (issue 10: the dashboard's timeline of a person's sessions), from the people layer: the
# day's sessions with their person re-stitched as `person_days` is (`transforms/people_reports.py`).
person_sessions = sa.Table(
    "person_sessions",
    metadata,
    _date_key("session_date", "The day (UTC) the session started: a session crossing midnight is on its first day."),
    sa.Column(
        "session_id",
        sa.Text,
        primary_key=True,
        comment="The session, as the sessions layer names it (unique within its day).",
    ),
    sa.Column("person_id", sa.Text, nullable=False, comment=_PERSON_ID),
    _timestamp("session_start", "The session's first event (UTC)."),
    _timestamp("session_end", "The session's last event (UTC)."),
    _seconds("duration_seconds", "Seconds from the first to the last event (0 for one event). Sums across rows."),
    _count("events", "The session's events (duplicates once). Sums across rows."),
    sa.Column(
        "platform",
        sa.String(REPORT_TEXT_CHARS["platform"]),
        nullable=False,
        comment="The platform of the session's first event (as in the breakdown tables; `unknown` where unsent).",
    ),
    sa.Column(
        "app_version",
        sa.String(REPORT_TEXT_CHARS["app_version"]),
        nullable=False,
        comment="The app version of the session's first event (as in the breakdown tables; `unknown` where unsent).",
    ),
    _text("os_name", "The OS of the session's first event (context.os.name); NULL where unsent."),
    _text("entry_event", "The session's first event: its name, or its type for a call without one."),
    _text("exit_event", "The session's last event: its name, or its type for a call without one."),
    sa.Index("ix_person_sessions_person_id_session_start", "person_id", "session_start"),
    sa.Index("ix_person_sessions_platform", "platform", "session_date"),  # the platform filter, on any day
    comment="Every session with its person after identity stitching: a person's timeline of sessions. Grain: "
    "one row per day x session_id.",
)
PARTITION_COLUMNS[person_sessions.name] = "session_date"
__all__ += ["person_sessions"]


# Privacy requests (issue 12): the audit trail of deletion requests, kept in the report database beside the tables
# a deletion changes. Not a report table (no day, no grain, no asset, no dashboard page): its own metadata, so what
# covers every report table (the BI guide, the views, the dashboard's pages, `rows_naming`) leaves it out. Ids are
# kept as pseudonyms (`contract/pseudonyms.py`); the ids in clear wait in `pending_ids` until the request is done.
audit_metadata = sa.MetaData()
PRIVACY_REQUEST_STATUSES = ("pending", "running", "done", "failed")
privacy_requests = sa.Table(
    "privacy_requests",
    audit_metadata,
    sa.Column("request_id", sa.String(32), primary_key=True, comment="The request's id, as the CLI printed it."),
    sa.Column("kind", sa.String(16), nullable=False, comment="What was asked: `delete` (everything about the person)."),
    _timestamp("requested_at", "When the request was recorded (UTC)."),
    sa.Column("requested_by", sa.Text, nullable=False, comment="Who recorded it (--requested-by, else the OS user)."),
    sa.Column("reason", sa.Text, comment="Why, as the requester wrote it (--reason); NULL if not given."),
    sa.Column(
        "status",
        sa.String(8),
        nullable=False,
        comment="pending (recorded), running (ids resolved, removal under way or cut short: a re-run resumes it), "
        "done (removed and verified), failed (see error; a re-run of privacy_job retries it).",
    ),
    sa.Column("requested_ids", sa.Text, nullable=False, comment="The ids asked for, as pseudonyms: JSON."),
    sa.Column(
        "id_pseudonyms",
        sa.Text,
        comment="Every id stitched to the person (resolved before removal), as pseudonyms: JSON list; NULL while "
        "pending.",
    ),
    sa.Column(
        "pending_ids",
        sa.Text,
        comment="The ids in clear while the request is not done (the requested ids, then every stitched one): "
        "JSON list; NULL once done, so the audit keeps no id in clear.",
    ),
    sa.Column("attempts", sa.Integer, nullable=False, comment="Runs of privacy_job that started on this request."),
    sa.Column("run_id", sa.Text, comment="The Dagster run that last worked on the request."),
    _timestamp("started_at", "When its latest attempt started (UTC)."),
    _timestamp("finished_at", "When it was done, or last failed (UTC)."),
    sa.Column(
        "removed",
        sa.Text,
        comment="What was removed, summed over the attempts: JSON with objects rewritten and deleted, rows per "
        "layer, report rows per table, keys naming the person that are not rows, and the days rebuilt.",
    ),
    sa.Column("error", sa.Text, comment="Why the latest attempt failed, or what remained; NULL when done."),
    sa.Index("ix_privacy_requests_status", "status"),
    comment="Privacy requests (deletions): who asked, what, when, and what was removed. Grain: one row per request_id.",
)
__all__ += ["PRIVACY_REQUEST_STATUSES", "audit_metadata", "privacy_requests"]
