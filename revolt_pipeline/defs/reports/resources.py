"""The report database: SQLite as the embedded default, PostgreSQL in production, one SQLAlchemy URL."""

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.retrying import Backoff


class ReportDatabaseResource(dg.ConfigurableResource):
    """REVOLT_REPORT_DB_URL, e.g. `sqlite:////data/reports.sqlite` or `postgresql+psycopg://...`."""

    url: str
    # A load whose connection is lost is retried whole, this many times, after this first wait (doubling).
    retries: int = Backoff.retries
    retry_seconds: float = Backoff.first_delay
    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_engine(self.url, retry=Backoff(retries=self.retries, first_delay=self.retry_seconds))
            ensure_tables(self._engine)
        return self._engine
