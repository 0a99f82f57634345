"""The one place resources are chosen: every setting comes from the environment through Settings.

The same code runs on a local folder and SQLite by default and on S3 and PostgreSQL in production;
only the URLs differ.
"""

from typing import Any

from revolt_pipeline.defs.ingestion.resources import CollectorResource, HttpCollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import RulesResource
from revolt_pipeline.settings import Settings


def build_resources(settings: Settings, *, collector: CollectorResource | None = None) -> dict[str, Any]:
    """Resources for this environment; `collector` replaces the HTTP one (an in-process collector)."""
    return {
        "collector": collector
        or HttpCollectorResource(url=settings.collector_url, admin_token=settings.resolved_admin_token()),
        "lake": LakeResource(
            url=settings.storage_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            retries=settings.pipeline_retries,
            retry_seconds=settings.pipeline_retry_seconds,
        ),
        "reports": ReportDatabaseResource(
            url=settings.report_db_url,
            retries=settings.pipeline_retries,
            retry_seconds=settings.pipeline_retry_seconds,
        ),
        "rules": RulesResource(
            lateness_days=settings.lateness_days,
            session_timeout_minutes=settings.session_timeout_minutes,
            max_session_hours=settings.max_session_hours,
        ),
    }
