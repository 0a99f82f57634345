"""Report tables in the report database: each run replaces its days' rows in one transaction.

The aggregate tables are partitioned by event day (sessions and session lengths: the day sessions
started), like the lake's aggregates they load; `event_catalog` by the day events were received, like
the raw day whose catalog it holds. Each table is one asset, described by its COMMENT and its columns'
(the grain, and which columns sum), all loaded by one step: they come from one `daily_aggregates`
partition, and a BI user looks a table up by its own name.
"""

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import partial
from typing import Any

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from revolt_pipeline.dashboard.urls import REPORT_PAGES, page_url
from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.layers.checks import CheckOutcome, loaded_rows_check
from revolt_pipeline.layers.report_tables import (
    AGGREGATE_TABLES,
    load_aggregate,
    load_event_catalog,
    rows_by_day,
)
from revolt_pipeline.layers.summaries import summarize_rows
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import rows_in_database_per_day
from revolt_pipeline.storage import ObjectStore

OWNERS = ["team:analytics-platform"]
KINDS = {"sql", "sqlite", "postgres"}
LOADED_ROWS = "The database holds exactly the lake's rows of the day."


def _column_schema(table: sa.Table) -> dg.TableSchema:
    """The table's columns with their COMMENTs, so the UI's catalog says what the database's does."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                str(column.type),
                description=column.comment,
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable)),
            )
            for column in table.columns
        ]
    )


def report_table_metadata(table: sa.Table) -> dict[str, Any]:
    """A report table asset's name in the database and its columns with their COMMENTs, shown in the UI's catalog
    from the start, before the first load."""
    return {"dagster/table_name": table.name, "dagster/column_schema": _column_schema(table)}


# More checks of a day's loaded rows, besides `loaded_rows_match_lake`.
MoreChecks = Callable[[pa.Table], list[CheckOutcome]]


def _same_day(day: date) -> date:
    return day


def _period_days(period: Callable[[date], date], day: date) -> tuple[date, date]:
    """The first and last day of the period a partition's day belongs to (itself, or its week)."""
    first = last = period(day)
    while period(last + timedelta(days=1)) == first:
        last += timedelta(days=1)
    return first, last


def dashboard_link(
    dashboard_url: str, table: sa.Table, first: date | None = None, last: date | None = None
) -> dg.MetadataValue:
    """The table's page on the dashboard at `dashboard_url` (REVOLT_DASHBOARD_URL), showing the days first to last
    (all of them when not given)."""
    days = {"from_": first.isoformat(), "to": last.isoformat()} if first and last else {}
    return dg.MetadataValue.url(page_url(dashboard_url, REPORT_PAGES[table.name], **days))


def describe_loaded_days(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    table: sa.Table,
    days: list[date],
    rows: pa.Table,
    *,
    asset: str | None = None,
    more_checks: MoreChecks | None = None,
    period: Callable[[date], date] = _same_day,
    dashboard_url: str | None = None,
) -> dict[str, list[Any]]:
    """Each day's rows, as that partition's metadata, and each day's check that the database holds them.

    `asset` is the table's asset, when it is not named after the table; `period` maps a partition's day to
    the value of the table's date column its rows carry (a weekly table: the week's Monday); `more_checks`
    judges a day's rows further; `dashboard_url` adds a link to the day's page on the dashboard (a weekly
    table's: the week's)."""
    periods = sorted({period(day) for day in days})
    loaded = rows_by_day(table, rows, periods)
    in_database = rows_in_database_per_day(engine, table, periods)
    outcomes = {}
    for day in days:
        day_rows = loaded[period(day)]
        metadata = {
            **table_metadata(summarize_rows(day_rows), dataset=table.name),
            "dagster/column_schema": _column_schema(table),
        }
        if dashboard_url is not None:
            metadata["dashboard"] = dashboard_link(dashboard_url, table, *_period_days(period, day))
        context.add_asset_metadata(metadata, asset_key=asset or table.name, partition_key=day.isoformat())
        checks = [loaded_rows_check(day_rows.num_rows, in_database[period(day)])]
        outcomes[day.isoformat()] = checks + (more_checks(day_rows) if more_checks else [])
    return outcomes


def load_report_table(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    reports: ReportDatabaseResource,
    table: sa.Table,
    load: Callable[[sa.Engine, ObjectStore, sa.Table, list[date]], pa.Table],
    *,
    asset: str | None = None,
    more_checks: MoreChecks | None = None,
    period: Callable[[date], date] = _same_day,
) -> Iterator[Any]:
    """Load the run's days of `table` with `load`, then yield its materialization and its days' checks:
    reported at once, so a later table failing to load leaves none of this one's days unchecked.

    `asset` is the table's asset, when it is not named after the table (`person_days_table`)."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    started = time.perf_counter()
    try:
        rows = lake.retrying(context, f"loading {table.name}", partial(load, reports.engine, lake.store, table, days))
    except FileNotFoundError as missing:
        raise dg.Failure(str(missing)) from missing
    outcomes = describe_loaded_days(
        context,
        reports.engine,
        table,
        days,
        rows,
        asset=asset,
        more_checks=more_checks,
        period=period,
        dashboard_url=reports.dashboard_url,
    )
    yield dg.MaterializeResult(
        asset_key=asset or table.name, metadata={"run_seconds/load": round(time.perf_counter() - started, 3)}
    )
    yield from report_checks(context, asset or table.name, outcomes)


def build_report_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """`report_tables` (every aggregate table, totals and breakdowns) and `event_catalog`."""

    @dg.multi_asset(
        name="report_tables",
        specs=[
            dg.AssetSpec(
                table.name,
                group_name="reports",
                description=table.comment,
                deps=["daily_aggregates"],
                kinds=KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata=report_table_metadata(table),
            )
            for table in AGGREGATE_TABLES
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check("loaded_rows_match_lake", table.name, LOADED_ROWS, partitions) for table in AGGREGATE_TABLES
        ],
    )
    def report_tables(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days of each aggregate into its table: delete the days, insert, commit."""
        for table in AGGREGATE_TABLES:
            yield from load_report_table(context, lake, reports, table, load_aggregate)

    @dg.asset(
        group_name="reports",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["raw_events"],
        kinds=KINDS,
        owners=OWNERS,
        tags={"layer": "reports"},
        description=schema.event_catalog.comment,
        metadata=report_table_metadata(schema.event_catalog),
        check_specs=[partition_check("loaded_rows_match_lake", "event_catalog", LOADED_ROWS, partitions)],
    )
    def event_catalog(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """The raw layer's property catalog per received day, for BI tools to browse what apps send."""
        days = [date.fromisoformat(key) for key in context.partition_keys]
        started = time.perf_counter()
        load = partial(load_event_catalog, reports.engine, lake.store, days)
        rows = lake.retrying(context, "loading event_catalog", load)
        outcomes = describe_loaded_days(
            context, reports.engine, schema.event_catalog, days, rows, dashboard_url=reports.dashboard_url
        )
        yield dg.MaterializeResult(metadata={"run_seconds/load": round(time.perf_counter() - started, 3)})
        yield from report_checks(context, "event_catalog", outcomes)

    return [report_tables, event_catalog]
