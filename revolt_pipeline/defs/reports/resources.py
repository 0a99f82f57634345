"""The report database: SQLite as the embedded default, PostgreSQL in production, one SQLAlchemy URL."""

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from revolt_pipeline.reports.loader import create_engine, ensure_tables


class ReportDatabaseResource(dg.ConfigurableResource):
    """REVOLT_REPORT_DB_URL, e.g. `sqlite:////data/reports.sqlite` or `postgresql+psycopg://...`."""

    url: str
    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_engine(self.url)
            ensure_tables(self._engine)
        return self._engine
