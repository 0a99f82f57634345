"""The one mapping from the engine setting (`REVOLT_ENGINE`) to the connections the layers run their transforms on.

DuckDB runs every layer. Spark (`transforms/spark.py`) runs the same transforms' SQL on a SparkSession, one
session for all the steps of a build (it takes seconds to start), the raw layer's reading of the landed files too
(docs/scale-out.md says what is mapped and how).
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from revolt_pipeline.transforms.engine import duckdb_connection

Connect = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True)
class EngineConnections:
    """How each step opens its connection: `connect` for every layer, `raw_connect` for the raw layer (the same
    engine's; kept apart for callers that run the raw layer elsewhere, as `DayBuilder.raw_connect` allows)."""

    engine: str
    connect: Connect
    raw_connect: Connect


@contextmanager
def engine_connections(
    engine: str, *, duckdb_memory_limit: str | None = None, spark_master: str = "local[2]", spark_session: Any = None
) -> Iterator[EngineConnections]:
    """The connections of `engine` for as long as the block runs; Spark's session is started here (or
    `spark_session`, one already started, is used) and stopped after."""
    duckdb = partial(duckdb_connection, memory_limit=duckdb_memory_limit)
    if engine == "duckdb":
        yield EngineConnections(engine, duckdb, duckdb)
    elif engine == "spark":
        from revolt_pipeline.transforms.spark import spark_connection
        from revolt_pipeline.transforms.spark import spark_session as start_session

        if spark_session is not None:
            spark = partial(spark_connection, spark_session)
            yield EngineConnections(engine, spark, spark)
            return
        with start_session(spark_master) as session:
            spark = partial(spark_connection, session)
            yield EngineConnections(engine, spark, spark)
    else:
        raise ValueError(f"unknown engine {engine!r}: duckdb or spark (REVOLT_ENGINE)")
