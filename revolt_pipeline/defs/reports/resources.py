"""The report database: SQLite as the embedded default, PostgreSQL in production, one SQLAlchemy URL."""

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr

from revolt_pipeline.private_files import create_private_file
from revolt_pipeline.reports.loader import OutdatedReportTables, create_engine, ensure_tables, is_connection_error
from revolt_pipeline.retrying import Backoff, RetriesExhausted
from revolt_pipeline.settings import REPORT_DB_URL_ENV, Settings


class ReportDatabaseUnavailable(dg.Failure):
    """The report database cannot be opened: its message names the setting and what to do first."""


class ReportDatabaseResource(dg.ConfigurableResource):
    """REVOLT_REPORT_DB_URL, e.g. `sqlite:////data/reports.sqlite` or `postgresql+psycopg://...`."""

    url: str = Field(description="SQLAlchemy URL; pass it as an EnvVar when it holds a password.")
    # A load whose connection is lost is retried whole, this many times, after this first wait (doubling).
    retries: int = Backoff.retries
    retry_seconds: float = Backoff.first_delay
    # Where `revolt dashboard` serves these tables: each report asset's metadata links to its page there.
    dashboard_url: str = Field(default=Settings.dashboard_url, description="REVOLT_DASHBOARD_URL")
    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.url.strip()  # as Settings reads it: an EnvVar arrives unstripped
            try:
                _create_sqlite_file_privately(url)
                engine = create_engine(url, retry=Backoff(retries=self.retries, first_delay=self.retry_seconds))
                ensure_tables(engine)
            except (ValueError, OSError, RetriesExhausted, sa.exc.DBAPIError, OutdatedReportTables) as exc:
                raise unavailable(url, exc) from None  # the message holds the cause
            self._engine = engine
        return self._engine


def unavailable(url: str, error: Exception) -> ReportDatabaseUnavailable:
    """What went wrong opening the report database at `url`, and what to start or set."""
    try:
        shown = sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        shown = "(not a database URL)"
    if isinstance(error, OutdatedReportTables):
        advice = "its tables must be rebuilt for this version"
    elif isinstance(error, ValueError):
        advice = f"set {REPORT_DB_URL_ENV} to sqlite:///path/to/reports.sqlite or postgresql+psycopg://role@host/db"
    elif isinstance(error, RetriesExhausted) or is_connection_error(error):
        advice = (
            f"start its server, or set {REPORT_DB_URL_ENV} to one that runs (unset, the embedded default's "
            "SQLite file in REVOLT_HOME is used)"
        )
    else:
        advice = (
            "the report tables could not be created: the URL's role must be allowed to create tables in its "
            "database (deploy/production/databases.sql makes it the database's owner)"
        )
    reason = " ".join(str(error).split()).rstrip(".")
    return ReportDatabaseUnavailable(
        f"cannot open the report database {shown} ({REPORT_DB_URL_ENV}): {advice}. {reason}."
    )


def _create_sqlite_file_privately(url: str) -> None:
    """SQLite creates its database with the umask's mode, and its WAL and shared-memory files with the
    database's: created 0600 first, all three stay private whoever imports this."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return  # create_engine says what is wrong with it
    if not parsed.drivername.startswith("sqlite") or parsed.query.get("uri") == "true":
        return
    if parsed.database and parsed.database != ":memory:":
        create_private_file(Path(parsed.database))
