"""The report database: SQLite as the embedded default, PostgreSQL in production, one SQLAlchemy URL."""

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field, PrivateAttr

from revolt_pipeline.private_files import create_private_file
from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.retrying import Backoff


class ReportDatabaseResource(dg.ConfigurableResource):
    """REVOLT_REPORT_DB_URL, e.g. `sqlite:////data/reports.sqlite` or `postgresql+psycopg://...`."""

    url: str = Field(description="SQLAlchemy URL; pass it as an EnvVar when it holds a password.")
    # A load whose connection is lost is retried whole, this many times, after this first wait (doubling).
    retries: int = Backoff.retries
    retry_seconds: float = Backoff.first_delay
    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.url.strip()  # as Settings reads it: an EnvVar arrives unstripped
            _create_sqlite_file_privately(url)
            self._engine = create_engine(url, retry=Backoff(retries=self.retries, first_delay=self.retry_seconds))
            ensure_tables(self._engine)
        return self._engine


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
