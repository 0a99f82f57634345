"""What every asset shows in the UI for each partition: rows, column schema, where it is, a preview, timings."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pyarrow as pa

from revolt_pipeline.layers.columns import describe
from revolt_pipeline.layers.summaries import TableSummary

PREVIEW_CELL_CHARS = 60


def column_schema(schema: pa.Schema, dataset: str) -> dg.TableSchema:
    """The columns with what each means (layers/columns.py), so the UI's catalog explains the lake too."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(field.name, str(field.type), description=describe(dataset, field.name)) for field in schema
        ]
    )


def markdown_preview(table: pa.Table) -> str:
    """A small Markdown table; long cells (JSON documents) are cut so the UI stays readable."""
    if table.num_rows == 0:
        return "(no rows)"
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


def table_metadata(summary: TableSummary, uri: str | None = None, *, dataset: str) -> dict[str, Any]:
    """A day's output of the lake dataset `dataset` as the UI shows it: its own row count, its columns and what
    they mean, where it is, its first rows."""
    metadata: dict[str, Any] = {
        "dagster/row_count": summary.rows,
        "dagster/column_schema": column_schema(summary.schema, dataset),
        "preview": dg.MetadataValue.md(markdown_preview(summary.preview)),
    }
    if uri is not None:
        metadata["uri"] = dg.MetadataValue.path(uri)
    return metadata


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
