"""When days reach the lake's last layer, load them into the report database."""

import dagster as dg

from revolt_pipeline.defs.cascade import Cascade, cascade_sensor, materialized_partition
from revolt_pipeline.defs.jobs import REPORT_TABLES, catalog_job, report_job


def build_reports_after_clean(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`reports_after_clean`: report_job over the event days daily_aggregates was materialized for."""
    return cascade_sensor(
        Cascade(
            name="reports_after_clean",
            upstream="daily_aggregates",
            job=report_job.name,
            downstream=REPORT_TABLES,
            days_affected=materialized_partition,
            description="When daily_aggregates days are materialized (by any job, backfill or the UI), load the "
            "same days into the report tables with report_job.",
        ),
        partitions,
    )


def build_catalog_after_raw(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`catalog_after_raw`: catalog_job over the received days raw_events was materialized for."""
    return cascade_sensor(
        Cascade(
            name="catalog_after_raw",
            upstream="raw_events",
            job=catalog_job.name,
            downstream=("event_catalog",),
            days_affected=materialized_partition,
            description="When raw_events days are materialized (by any job, backfill or the UI), load their "
            "property catalog into event_catalog with catalog_job: by received day, late events or not.",
        ),
        partitions,
    )
