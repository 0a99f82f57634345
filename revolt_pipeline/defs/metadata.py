"""Metadata every asset reports: rows, column schema, a preview, timings; built from its Parquet output."""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 60


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(field.name, str(field.type)) for field in schema])


def markdown_preview(table: pa.Table) -> str:
    """A small Markdown table; long cells (JSON documents) are cut so the UI stays readable."""
    names = table.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in table.to_pylist():
        cells = []
        for name in names:
            text = "" if row[name] is None else str(row[name])
            text = text.replace("|", "\\|").replace("\n", " ")
            cells.append(text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parquet_preview(path: str, columns: list[str] | None = None) -> str:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=PREVIEW_ROWS, columns=columns):
        return markdown_preview(pa.Table.from_batches([batch]))
    return "(no rows)"


def parquet_metadata(path: str, uri: str, preview_columns: list[str] | None = None) -> dict[str, Any]:
    """Rows, column schema, location and preview of one Parquet output, without reading it whole."""
    parquet = pq.ParquetFile(path)
    return {
        "dagster/row_count": parquet.metadata.num_rows,
        "dagster/column_schema": column_schema(parquet.schema_arrow),
        "uri": dg.MetadataValue.path(uri),
        "preview": dg.MetadataValue.md(parquet_preview(path, preview_columns)),
    }


def per_partition_table(rows: Mapping[str, Mapping[str, Any]]) -> dg.MetadataValue:
    """One row per partition of the run: runs can span several days (backfills, cascades)."""
    columns = sorted({name for values in rows.values() for name in values})
    schema = dg.TableSchema(
        columns=[dg.TableColumn("partition", "string")] + [dg.TableColumn(name, "int") for name in columns]
    )
    records = [
        dg.TableRecord({"partition": key, **{name: values.get(name, 0) for name in columns}})
        for key, values in sorted(rows.items())
    ]
    return dg.MetadataValue.table(records, schema=schema)


class Timings:
    """Seconds spent per step, reported as metadata so slow stages show in the UI."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def metadata(self) -> dict[str, float]:
        return {f"seconds/{name}": round(value, 3) for name, value in self.seconds.items()}
