"""Loading event days into the report database from the lake."""

import json
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.commits import DAILY_AGGREGATES, RAW_EVENTS, Layer, committed
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import arrow_schema, replace_partitions
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import aggregate_key, raw_events_key, raw_profile_key
from revolt_pipeline.transforms.raw import catalog_rows

# The report tables loaded from the lake's daily aggregates of the same names, totals before breakdowns
# (`event_catalog` comes from the raw profiles).
AGGREGATE_TABLES = tuple(schema.AGGREGATE_TABLES.values())


def load_aggregate(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of a report table with their aggregate from the lake; returns the rows."""
    keys = {day: aggregate_key(table.name, day) for day in days}
    return load_lake_days(engine, store, table, keys, DAILY_AGGREGATES, "daily_aggregates")


def load_lake_days(
    engine: sa.Engine, store: ObjectStore, table: sa.Table, keys: dict[date, str], layer: Layer, asset: str
) -> pa.Table:
    """Replace the days' rows of a report table with the lake files of the same columns at `keys`, each
    committed by `layer` (built by `asset`, named in the errors); returns the rows."""
    missing = [key for day, key in keys.items() if not committed(store, layer, day, [key])]
    if missing:
        raise FileNotFoundError(f"no {table.name} in the lake for {', '.join(missing)}: build {asset} first")
    target = arrow_schema(table)
    with local_copies(store, list(keys.values())) as paths:
        tables = [_lake_rows(key, path, target, asset) for key, path in zip(keys.values(), paths, strict=True)]
    rows = pa.concat_tables(tables) if tables else target.empty_table()
    replace_partitions(engine, table, list(keys), rows)
    return rows


def _lake_rows(key: str, path: str, target: pa.Schema, asset: str) -> pa.Table:
    """A lake file's rows in the report table's types, if it has exactly the table's columns."""
    rows = pq.read_table(path)
    if sorted(rows.column_names) != sorted(target.names):
        # Before totals and breakdowns were split, an aggregate of the same name held both: loading its
        # rows would add platforms to totals. Its day must be built again.
        raise FileNotFoundError(
            f"{key} has the columns {rows.column_names}, not the report table's {target.names}: it was written "
            f"by an older version; build {asset} for its day again"
        )
    return rows.select(target.names).cast(target)


def load_event_catalog(engine: sa.Engine, store: ObjectStore, days: list[date]) -> pa.Table:
    """Replace the days' rows of `event_catalog` with the raw layer's property catalog (of committed days)."""
    records = []
    for day in days:
        key = raw_profile_key(day)
        if committed(store, RAW_EVENTS, day, [raw_events_key(day), key]):
            profile = json.loads(store.get(key))
            records += catalog_rows(day, profile["catalog"], profile.get("likely_pii"))
    rows = pa.Table.from_pylist(records, schema=arrow_schema(schema.event_catalog))
    replace_partitions(engine, schema.event_catalog, days, rows)
    return rows


def rows_by_day(table: sa.Table, rows: pa.Table, days: list[date]) -> dict[date, pa.Table]:
    """The loaded `rows` of each of `days` (by the table's date column)."""
    column = rows.column(schema.PARTITION_COLUMNS[table.name])
    return {day: rows.filter(pc.equal(column, pa.scalar(day, column.type))) for day in days}
