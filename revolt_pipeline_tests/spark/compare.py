"""Two engines' Parquet outputs compared: the same columns, of the same types, holding the same rows and values."""

import math
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _type(kind: pa.DataType) -> pa.DataType:
    """`kind` with every nested field nullable and JSON as its text: what the engines may differ on and no reader sees
    (Spark marks the elements of `array_sort(collect_set(...))` not null, DuckDB does not)."""
    if isinstance(kind, pa.BaseExtensionType):
        return _type(kind.storage_type)
    if pa.types.is_list(kind):
        return pa.list_(_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(field.name, _type(field.type)) for field in kind])
    return kind


def _types(path: str) -> list[tuple[str, pa.DataType]]:
    """Column names and types. Nullability and writer metadata are the engines' own business, and so is Parquet's
    JSON annotation: DuckDB marks its JSON columns, Spark cannot; both hold the same text (docs/scale-out.md)."""
    return [(field.name, _type(field.type)) for field in pq.read_schema(path)]


def _sort_key(row: dict[str, Any]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, repr(value)) for value in row.values())


def _same_value(left: Any, right: Any) -> bool:
    # Sums of doubles depend on the order they are added in, which no engine promises: equal to 1e-12.
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same_value(a, b) for a, b in zip(left, right, strict=True))
    return left == right


def differences(expected: str, actual: str, *, ordered: bool) -> list[str]:
    """What differs between the Parquet files `expected` (DuckDB's) and `actual` (Spark's); empty when alike.

    `ordered`: the query orders its rows, so the order must match too; otherwise rows are compared as a multiset.
    """
    if _types(expected) != _types(actual):
        return [f"columns differ:\n  duckdb {_types(expected)}\n  spark  {_types(actual)}"]
    left, right = pq.read_table(expected).to_pylist(), pq.read_table(actual).to_pylist()
    if len(left) != len(right):
        return [f"{len(left)} rows on duckdb, {len(right)} on spark"]
    if not ordered:
        left, right = sorted(left, key=_sort_key), sorted(right, key=_sort_key)
    found = []
    for number, (a, b) in enumerate(zip(left, right, strict=True)):
        columns = [name for name in a if not _same_value(a[name], b[name])]
        if columns:
            found.append(f"row {number}: " + ", ".join(f"{name}: {a[name]!r} != {b[name]!r}" for name in columns))
    return found
