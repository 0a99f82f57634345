"""What a layer's output holds, read from its Parquet footer and first rows: for catalogs and the UI."""

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

PREVIEW_ROWS = 5


@dataclass(frozen=True)
class TableSummary:
    """Rows, columns and the first rows of one day's output."""

    rows: int
    schema: pa.Schema
    preview: pa.Table


def summarize_parquet(path: str, preview_columns: list[str] | None = None) -> TableSummary:
    """The summary of a Parquet file, without reading it whole: rows come from its footer."""
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    columns = [name for name in preview_columns if name in schema.names] if preview_columns else None
    preview = next(
        (pa.Table.from_batches([batch]) for batch in parquet.iter_batches(batch_size=PREVIEW_ROWS, columns=columns)),
        schema.empty_table().select(columns) if columns else schema.empty_table(),
    )
    return TableSummary(rows=parquet.metadata.num_rows, schema=schema, preview=preview)


def summarize_rows(rows: pa.Table) -> TableSummary:
    """The same summary for rows held in memory (a report table's day as loaded)."""
    return TableSummary(rows=rows.num_rows, schema=rows.schema, preview=rows.slice(0, PREVIEW_ROWS))
