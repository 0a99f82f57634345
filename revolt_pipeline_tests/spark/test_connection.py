"""What Spark SQL has no statement for, run through DataFrames by `SparkConnection`, answers as DuckDB does."""

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.transforms.engine import copy_to_parquet, duckdb_connection, parquet, sql_string
from revolt_pipeline_tests.spark.compare import differences

pytestmark = pytest.mark.xdist_group("spark")


@pytest.fixture
def engines(spark: Any) -> Callable[[str], tuple[list[tuple], list[tuple]]]:
    """Run one query on DuckDB and on Spark; both engines' rows."""
    from revolt_pipeline.transforms.spark import spark_connection

    def run(sql: str) -> tuple[list[tuple], list[tuple]]:
        with duckdb_connection(threads=1) as duck, spark_connection(spark) as sparks:
            return duck.execute(sql).fetchall(), sparks.execute(sql).fetchall()

    return run


@pytest.fixture
def events(tmp_path: Path) -> str:
    path = str(tmp_path / "events.parquet")
    pq.write_table(pa.table({"id": ["b", "a", "c"], "name": ["x", None, "z"], "n": [2, 1, 3]}), path, row_group_size=2)
    return path


def test_file_row_numbers_are_each_rows_place_in_its_file(engines, events: str) -> None:
    duck, spark = engines(f"SELECT id, file_row_number FROM {parquet(events, row_numbers=True)} ORDER BY id")
    assert duck == spark == [("a", 1), ("b", 0), ("c", 2)]


def test_union_all_by_name_fills_missing_columns_with_null(engines, events: str) -> None:
    duck, spark = engines(
        f"SELECT * FROM (SELECT id FROM {parquet(events)} UNION ALL BY NAME "
        "(SELECT 'd' AS id, 'new' AS extra)) ORDER BY id"
    )
    assert duck == spark == [("a", None), ("b", None), ("c", None), ("d", "new")]


def test_star_replace_keeps_the_replaced_column_in_its_place(engines, events: str) -> None:
    duck, spark = engines(
        f"SELECT t.* REPLACE (coalesce(t.name, 'none') AS name), 1 AS one FROM {parquet(events)} AS t ORDER BY id"
    )
    assert duck == spark == [("a", "none", 1, 1), ("b", "x", 2, 1), ("c", "z", 3, 1)]


def test_a_temporary_table_is_materialized_and_can_be_replaced(spark: Any, events: str) -> None:
    from revolt_pipeline.transforms.spark import spark_connection

    with spark_connection(spark) as connection:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE firsts AS SELECT * FROM {parquet(events)} WHERE n < 3")
        assert connection.execute("SELECT count(*) FROM firsts").fetchone() == (2,)
        connection.execute("CREATE OR REPLACE TEMP TABLE firsts AS SELECT 1 AS n")
        assert connection.execute("SELECT * FROM firsts").fetchall() == [(1,)]
        assert [column[0] for column in connection.execute("SELECT n AS m FROM firsts").description] == ["m"]


def test_copy_writes_one_parquet_file_in_the_querys_order(spark: Any, events: str, tmp_path: Path) -> None:
    from revolt_pipeline.transforms.spark import spark_connection

    query = f"SELECT id, n / 2 AS half, [n, n + 1] AS pair FROM {parquet(events)} ORDER BY n DESC"
    with duckdb_connection(threads=1) as duck, spark_connection(spark) as sparks:
        assert copy_to_parquet(duck, query, str(tmp_path / "duck.parquet")) == 3
        assert copy_to_parquet(sparks, query, str(tmp_path / "spark.parquet")) == 3
    assert differences(str(tmp_path / "duck.parquet"), str(tmp_path / "spark.parquet"), ordered=True) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["duck.parquet", "events.parquet", "spark.parquet"]


def _tasks_per_stage(spark: Any, work: Callable[[], object]) -> list[int]:
    """How many tasks each stage of the Spark jobs `work` ran had."""
    group = f"revolt-test-{uuid.uuid4().hex[:8]}"
    context = spark.sparkContext
    context.setJobGroup(group, "tasks per stage")
    try:
        work()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    tracker = context.statusTracker()
    # The tracker learns of jobs through Spark's listener bus, after they end: wait until it knows them ended.
    deadline = time.monotonic() + 30
    while True:
        jobs = [tracker.getJobInfo(job) for job in tracker.getJobIdsForGroup(group)]
        if jobs and all(job is not None and job.status == "SUCCEEDED" for job in jobs):
            break
        assert time.monotonic() < deadline, f"the jobs of {group} never all succeeded: {jobs}"
        time.sleep(0.1)
    return sorted(tracker.getStageInfo(stage).numTasks for job in jobs for stage in job.stageIds)


def test_an_unordered_copy_without_a_shuffle_works_on_every_partition_first(spark: Any, tmp_path: Path) -> None:
    from revolt_pipeline.transforms.spark import write_parquet

    frame = spark.range(0, 10_000, numPartitions=4).selectExpr("id", "sha2(CAST(id AS STRING), 256) AS digest")
    written = tmp_path / "digests.parquet"
    assert _tasks_per_stage(spark, lambda: write_parquet(frame, str(written), ordered=False)) == [1, 4]
    ids = pq.read_table(written).column("id").to_pylist()
    assert sorted(ids) == list(range(10_000))
    # Each partition's rows (ids of one quarter) keep their order; only the partitions' order may change.
    assert all(sorted(quarter) == quarter for quarter in ([n for n in ids if n // 2_500 == q] for q in range(4)))
    assert [path.name for path in tmp_path.iterdir()] == ["digests.parquet"]
    # Coalesced, as an ordered frame must be, the whole query is the writer's one task.
    assert _tasks_per_stage(spark, lambda: write_parquet(frame, str(written), ordered=True)) == [1]
    # A query with a shuffle runs its work on every partition before it already: coalesced, its rows move once.
    totals = frame.groupBy((frame.id % 7).alias("remainder")).count()
    assert _tasks_per_stage(spark, lambda: write_parquet(totals, str(written), ordered=False)) == [1, 4]
    assert pq.read_table(written).num_rows == 7


def test_an_arrow_function_of_duckdb_is_a_spark_udf(spark: Any, events: str) -> None:
    import duckdb

    from revolt_pipeline.transforms.spark import spark_connection

    def shout(values: pa.Array) -> pa.Array:
        return pc.utf8_upper(values)

    answers = []
    with duckdb_connection(threads=1) as duck, spark_connection(spark) as sparks:
        for connection in (duck, sparks):
            connection.create_function(
                "shout", shout, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"), type="arrow"
            )
            answers.append(connection.execute(f"SELECT shout(name) FROM {parquet(events)} ORDER BY id").fetchall())
    assert answers[0] == answers[1] == [(None,), ("X",), ("Z",)]


def test_a_construct_without_a_spark_mapping_is_refused_by_name(spark: Any, tmp_path: Path) -> None:
    from revolt_pipeline.transforms.spark import spark_connection

    with spark_connection(spark) as connection, pytest.raises(NotImplementedError, match="one Parquet file"):
        connection.execute(f"COPY (SELECT 1 AS a) TO {sql_string(str(tmp_path / 'a.csv'))} (FORMAT csv)")
    assert list(tmp_path.iterdir()) == []


def test_a_funnel_steps_property_filter_compares_by_json_type_on_both_engines(engines) -> None:
    """Spark's `get_json_object` gives a string value without its quotes: the type comes from the parsed document."""
    from revolt_pipeline.transforms.funnels import PropertyFilter, _filter_sql

    documents = [
        '{"report": "weekly"}',
        '{"report": "monthly", "other": 1}',
        '{"report": "1"}',
        '{"report": 1}',
        '{"report": 1.0}',
        '{"report": true}',
        '{"report": null}',
        '{"report": ["weekly"]}',
        '{"report": {"kind": "weekly"}}',
        '{"reports": "weekly"}',
        "{}",
        None,
        '{"a b": "weekly"}',
    ]
    rows = ", ".join(f"({n}, {sql_string(d) if d else 'NULL'})" for n, d in enumerate(documents))
    filters = [
        PropertyFilter("report", ("weekly", "monthly")),
        PropertyFilter("report", (1,)),
        PropertyFilter("report", (True,)),
        PropertyFilter("a b", ("weekly",)),
    ]
    tests = ", ".join(f"coalesce({_filter_sql(condition)}, false)" for condition in filters)
    duck, spark = engines(f"SELECT n, {tests} FROM (VALUES {rows}) AS v(n, properties) ORDER BY n")
    assert spark == duck
    assert [n for n, weekly, *_ in duck if weekly] == [0, 1]
    assert [n for n, _, one, *_ in duck if one] == [3, 4]  # the number, not the string "1"
    assert [n for n, _, _, true, _ in duck if true] == [5]
    assert [n for n, *_, spaced in duck if spaced] == [12]
