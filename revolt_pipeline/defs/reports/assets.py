"""Report tables in the report database: each run replaces its days' rows in one transaction."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import markdown_preview, per_partition_table
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.raw.assets import raw_events
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import arrow_schema, replace_partitions
from revolt_pipeline.storage.layout import aggregate_key, raw_profile_key
from revolt_pipeline.transforms.raw import catalog_rows

OWNERS = ["team:analytics-platform"]
REPORT_TABLES = (schema.daily_active_users, schema.sessions_daily, schema.events_daily)


def _table_metadata(table: sa.Table, rows: pa.Table, per_day: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        "dagster/row_count": rows.num_rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(column.name, str(column.type)) for column in table.columns]
        ),
        "dagster/table_name": table.name,
        "partitions": per_partition_table(per_day),
        "preview": dg.MetadataValue.md(markdown_preview(rows.slice(0, 5))),
    }


def _loaded_check(engine: sa.Engine, table: sa.Table, days: list[date], rows: pa.Table) -> dg.AssetCheckResult:
    column = table.c[schema.PARTITION_COLUMNS[table.name]]
    with engine.connect() as connection:
        loaded = connection.execute(sa.select(sa.func.count()).select_from(table).where(column.in_(days))).scalar_one()
    return dg.AssetCheckResult(
        asset_key=table.name,
        check_name="loaded_rows_match_lake",
        passed=loaded == rows.num_rows,
        metadata={"in_database": loaded, "in_lake": rows.num_rows},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            table.name,
            group_name="reports",
            description=table.comment,
            deps=["daily_aggregates"],
            kinds={"sql", "sqlite", "postgres"},
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
        parts, per_day = [], {}
        for day in days:
            key = aggregate_key(table.name, day)
            if not lake.store.exists(key):
                raise dg.Failure(f"no {table.name} aggregate for {day}: materialize daily_aggregates first")
            with lake.local_files([key]) as (path,):
                part = pq.read_table(path)
            parts.append(part.select(arrow_schema(table).names))
            per_day[day.isoformat()] = {"rows": part.num_rows}
        rows = pa.concat_tables([part.cast(arrow_schema(table)) for part in parts])
        replace_partitions(reports.engine, table, days, rows)
        yield dg.MaterializeResult(asset_key=table.name, metadata=_table_metadata(table, rows, per_day))
        yield _loaded_check(reports.engine, table, days, rows)


@dg.asset(
    group_name="reports",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_events],
    kinds={"sql", "sqlite", "postgres"},
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
    records, per_day = [], {}
    for day in days:
        key = raw_profile_key(day)
        day_rows = catalog_rows(day, lake.get_json(key)["catalog"]) if lake.store.exists(key) else []
        records += day_rows
        per_day[day.isoformat()] = {"rows": len(day_rows)}
    rows = pa.Table.from_pylist(records, schema=arrow_schema(schema.event_catalog))
    replace_partitions(reports.engine, schema.event_catalog, days, rows)
    yield dg.MaterializeResult(metadata=_table_metadata(schema.event_catalog, rows, per_day))
    yield _loaded_check(reports.engine, schema.event_catalog, days, rows)
