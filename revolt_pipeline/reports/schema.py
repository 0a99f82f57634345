"""The report tables BI tools read: one SQLAlchemy definition serves SQLite and PostgreSQL alike.

Every table is partitioned by a date column: a pipeline run replaces one date's rows in one
transaction. Rows with `platform = 'all'` and `app_version = 'all'` hold the day's totals, because
distinct users cannot be summed across platforms. Text columns take their length from
`transforms.report_text`, whose rule makes every value fit before it gets here.
"""

import sqlalchemy as sa

from revolt_pipeline.transforms.aggregates import ALL  # the platform and app_version of total rows
from revolt_pipeline.transforms.report_text import REPORT_TEXT_CHARS

metadata = sa.MetaData()
__all__ = ["ALL", "daily_active_users", "event_catalog", "events_daily", "metadata", "sessions_daily"]


def _text_key(name: str) -> sa.Column[str]:
    """A primary-key text column, as long as the report's rule for `name` allows."""
    return sa.Column(name, sa.String(REPORT_TEXT_CHARS[name]), primary_key=True)


daily_active_users = sa.Table(
    "daily_active_users",
    metadata,
    sa.Column("event_date", sa.Date, primary_key=True),
    _text_key("platform"),
    _text_key("app_version"),
    sa.Column("active_users", sa.Integer, nullable=False),
    sa.Column("identified_users", sa.Integer, nullable=False),
    sa.Column("anonymous_users", sa.Integer, nullable=False),
    comment="Distinct people (after identity stitching) with at least one event on the day (UTC).",
)

sessions_daily = sa.Table(
    "sessions_daily",
    metadata,
    sa.Column("session_date", sa.Date, primary_key=True),
    _text_key("platform"),
    _text_key("app_version"),
    sa.Column("sessions", sa.Integer, nullable=False),
    sa.Column("users", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("total_duration_seconds", sa.Float, nullable=False),
    sa.Column("avg_duration_seconds", sa.Float, nullable=False),
    sa.Column("median_duration_seconds", sa.Float, nullable=False),
    sa.Column("p90_duration_seconds", sa.Float, nullable=False),
    sa.Column("single_event_sessions", sa.Integer, nullable=False),
    sa.Column("split_sessions", sa.Integer, nullable=False),
    comment="Sessions by the day they start (UTC), with their platform and app version at the start.",
)

events_daily = sa.Table(
    "events_daily",
    metadata,
    sa.Column("event_date", sa.Date, primary_key=True),
    _text_key("platform"),
    _text_key("app_version"),
    _text_key("event_type"),
    _text_key("event_name"),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("users", sa.Integer, nullable=False),
    comment="Events by type and name (track: event; page, screen: name; others: the type).",
)

event_catalog = sa.Table(
    "event_catalog",
    metadata,
    sa.Column("received_date", sa.Date, primary_key=True),
    _text_key("event_type"),
    _text_key("event_name"),
    _text_key("property"),
    _text_key("json_type"),
    sa.Column("events", sa.Integer, nullable=False),
    comment="Which properties (or traits) each event carried on a received day, and their JSON types.",
)

PARTITION_COLUMNS = {
    daily_active_users.name: "event_date",
    sessions_daily.name: "session_date",
    events_daily.name: "event_date",
    event_catalog.name: "received_date",
}


# Active users: exact distinct people over windows of person days. One grain per table, so a BI tool's SUM
# never adds a total to its breakdown: the totals (one row per day) and each breakdown are separate tables.
def _active_users_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("dau", sa.Integer, nullable=False, comment="Distinct people active on the day."),
        sa.Column("wau", sa.Integer, nullable=False, comment="Distinct people active in the 7 days ending on the day."),
        sa.Column(
            "mau",
            sa.Integer,
            nullable=False,
            comment="Distinct people active in the MAU window ending on the day (REVOLT_MAU_WINDOW_DAYS, default 30).",
        ),
        sa.Column("stickiness", sa.Float, nullable=False, comment="dau / mau (0 when mau is 0)."),
        sa.Column("new_users", sa.Integer, nullable=False, comment="People first seen on the day."),
    ]


_ACTIVES_DATE = "The day (UTC) the windows end on."

active_users_daily = sa.Table(
    "active_users_daily",
    metadata,
    sa.Column("event_date", sa.Date, primary_key=True, comment=_ACTIVES_DATE),
    *_active_users_columns(),
    comment="Grain: one row per day. Active users (DAU, WAU, MAU), stickiness and new users of all platforms: "
    "exact distinct people after identity stitching.",
)

active_users_by_platform = sa.Table(
    "active_users_by_platform",
    metadata,
    sa.Column("event_date", sa.Date, primary_key=True, comment=_ACTIVES_DATE),
    sa.Column(
        "platform",
        sa.String(REPORT_TEXT_CHARS["platform"]),
        primary_key=True,
        comment="A platform people were active on in the window ('unknown' when not sent).",
    ),
    *_active_users_columns(),
    comment="Grain: one row per day and platform active in the MAU window. A person active on two platforms "
    "counts in both: rows of a day do not add up to active_users_daily.",
)

active_users_by_app_version = sa.Table(
    "active_users_by_app_version",
    metadata,
    sa.Column("event_date", sa.Date, primary_key=True, comment=_ACTIVES_DATE),
    sa.Column(
        "app_version",
        sa.String(REPORT_TEXT_CHARS["app_version"]),
        primary_key=True,
        comment="An app version people were active with in the window ('unknown' when not sent).",
    ),
    *_active_users_columns(),
    comment="Grain: one row per day and app version active in the MAU window. A person on two versions counts "
    "for both: rows of a day do not add up to active_users_daily.",
)

PARTITION_COLUMNS.update(
    {
        active_users_daily.name: "event_date",
        active_users_by_platform.name: "event_date",
        active_users_by_app_version.name: "event_date",
    }
)
