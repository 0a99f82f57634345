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
