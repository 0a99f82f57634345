"""Report tables in the report database: each run replaces its days' rows in one transaction."""

import time
from collections.abc import Iterator
from datetime import date
from functools import partial
from typing import Any

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from revolt_pipeline.defs.checks import check_result
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import markdown_preview
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.raw.assets import raw_events
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.layers.report_tables import load_aggregate, load_event_catalog, rows_in_database
from revolt_pipeline.reports import schema

OWNERS = ["team:analytics-platform"]
REPORT_TABLES = (schema.daily_active_users, schema.sessions_daily, schema.events_daily)
KINDS = {"sql", "sqlite", "postgres"}


def _report(engine: sa.Engine, table: sa.Table, days: list[date], rows: pa.Table, seconds: float) -> Iterator[Any]:
    """Materialization metadata and the check that the database holds exactly what was loaded."""
    in_database = rows_in_database(engine, table, days)
    yield dg.MaterializeResult(
        asset_key=table.name,
        metadata={
            "dagster/row_count": rows.num_rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(column.name, str(column.type)) for column in table.columns]
            ),
            "dagster/table_name": table.name,
            "days": dg.MetadataValue.json([day.isoformat() for day in days]),
            "preview": dg.MetadataValue.md(markdown_preview(rows.slice(0, 5))),
            "seconds/load": round(seconds, 3),
        },
    )
    problems = [] if in_database == rows.num_rows else [f"database {in_database} rows, lake {rows.num_rows}"]
    yield check_result(table.name, "loaded_rows_match_lake", problems)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            table.name,
            group_name="reports",
            description=table.comment,
            deps=["daily_aggregates"],
            kinds=KINDS,
            owners=OWNERS,
            tags={"layer": "reports"},
            metadata={"dagster/table_name": table.name},
        )
        for table in REPORT_TABLES
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            "loaded_rows_match_lake",
            asset=table.name,
            description="The database holds exactly the aggregate rows of these days.",
        )
        for table in REPORT_TABLES
    ],
)
def report_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
) -> Iterator[Any]:
    """Load the run's days of each aggregate into its table: delete the days, insert, commit."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    for table in REPORT_TABLES:
        started = time.perf_counter()
        try:
            load = partial(load_aggregate, reports.engine, lake.store, table, days)
            rows = lake.retrying(context, f"loading {table.name}", load)
        except FileNotFoundError as missing:
            raise dg.Failure(str(missing)) from missing
        yield from _report(reports.engine, table, days, rows, time.perf_counter() - started)


@dg.asset(
    group_name="reports",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_events],
    kinds=KINDS,
    owners=OWNERS,
    tags={"layer": "reports"},
    description=schema.event_catalog.comment,
    check_specs=[dg.AssetCheckSpec("loaded_rows_match_lake", asset="event_catalog")],
)
def event_catalog(
    context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
) -> Iterator[Any]:
    """The raw layer's property catalog per received day, for BI tools to browse what apps send."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    started = time.perf_counter()
    rows = lake.retrying(
        context, "loading event_catalog", partial(load_event_catalog, reports.engine, lake.store, days)
    )
    yield from _report(reports.engine, schema.event_catalog, days, rows, time.perf_counter() - started)
