"""The one place resources are chosen: every setting comes from the environment through Settings."""

from typing import Any

from revolt_pipeline.defs.ingestion.resources import HttpCollectorResource
from revolt_pipeline.settings import Settings


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources for this environment: a local folder and SQLite by default, S3 and Postgres when set."""
    return {
        "collector": HttpCollectorResource(
            url=settings.collector_url, admin_token=settings.resolved_admin_token()
        ),
    }
