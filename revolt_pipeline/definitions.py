"""The Dagster code location: every definition under defs/, with the resources of this environment.

`dagster dev`, the webserver's code server, the daemon and every run worker import this module as
their entry point, never going through the `revolt` command: so the umask that keeps what they write
under REVOLT_HOME private (Parquet layers, reports.sqlite, the demo's Dagster storage) is set here.
"""

import dagster as dg

from revolt_pipeline.defs.cleaned.assets import cleaned_events, daily_aggregates, sessionized
from revolt_pipeline.defs.cleaned.sensors import clean_after_raw
from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.jobs import clean_job, raw_job, report_job
from revolt_pipeline.defs.raw.assets import raw_events
from revolt_pipeline.defs.raw.schedules import raw_daily_schedule
from revolt_pipeline.defs.reports.assets import event_catalog, report_tables
from revolt_pipeline.defs.reports.sensors import reports_after_clean
from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.private_files import restrict_umask
from revolt_pipeline.settings import Settings


def build_definitions(settings: Settings, *, collector: CollectorResource | None = None) -> dg.Definitions:
    """The definitions the UI, the daemon and `revolt demo` all use; only the collector may differ."""
    return dg.Definitions(
        assets=[raw_events, cleaned_events, sessionized, daily_aggregates, report_tables, event_catalog],
        jobs=[raw_job, clean_job, report_job],
        schedules=[raw_daily_schedule],
        sensors=[clean_after_raw, reports_after_clean],
        resources=build_resources(settings, collector=collector),
    )


restrict_umask()
defs = build_definitions(Settings.from_env())
