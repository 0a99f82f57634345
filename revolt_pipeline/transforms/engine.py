"""The DuckDB connection every transform runs on: offline, UTC, bounded in memory and threads."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow.parquet as pq


@contextmanager
def duckdb_connection(
    *, threads: int | None = None, memory_limit: str | None = None, temp_directory: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB that never downloads extensions (there is no network to get them from).

    JSON and Parquet support are built into the Python package. Spilling goes to a temporary
    folder so a day larger than memory still completes. `memory_limit` is the setting
    (`Settings.duckdb_memory_limit`, passed down by the caller); None leaves DuckDB's own default.
    """
    with tempfile.TemporaryDirectory(prefix="revolt-duckdb-") as spill:
        config: dict[str, str | int | bool] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": threads or os.cpu_count() or 1,
            "temp_directory": temp_directory or spill,
            "preserve_insertion_order": False,
        }
        if memory_limit:
            config["memory_limit"] = memory_limit
        connection = duckdb.connect(config=config)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            connection.close()


def sql_string(value: str) -> str:
    """A SQL string literal, for the file paths DuckDB table functions take (they cannot be bound)."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_string(value) for value in values) + "]"


def parquet(paths: str | list[str], *, row_numbers: bool = False) -> str:
    """`read_parquet` of lake files. Hive partitioning is off: DuckDB would otherwise add a column for every
    `key=value` folder in a path, so a file's schema would depend on where the lake lives."""
    files = sql_string(paths) if isinstance(paths, str) else sql_list(paths)
    extra = ", file_row_number = true" if row_numbers else ""
    return f"read_parquet({files}, hive_partitioning = false{extra})"


def copy_to_parquet_sql(query: str, path: str) -> str:
    """COPY to zstd Parquet at level 1: as small as the default level here, and a fifth faster to write."""
    return f"COPY ({query}) TO {sql_string(path)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"


def copy_to_parquet(connection: duckdb.DuckDBPyConnection, query: str, path: str) -> int:
    """Write the rows of `query` to a Parquet file at `path`; returns how many there are."""
    connection.execute(copy_to_parquet_sql(query, path))
    return pq.ParquetFile(path).metadata.num_rows
