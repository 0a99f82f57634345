"""The settings of a local Spark session that let a day of millions of events through a small heap."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.xdist_group("spark")


def test_the_local_jvm_runs_the_throughput_collector(spark: Any) -> None:
    # A driver option set once the JVM runs is ignored without a word: ask the JVM which collector it has.
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert {bean.getName() for bean in beans} == {"PS Scavenge", "PS MarkSweep"}


@pytest.fixture
def adaptive(spark: Any) -> Iterator[Any]:
    """The shared session with adaptive execution on, as a day's job runs (the tests' session has it off)."""
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    try:
        yield spark
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", "false")


def test_a_join_side_is_broadcast_only_once_its_size_is_measured(adaptive: Any, tmp_path: Path) -> None:
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"id": [f"{n:08}" for n in range(2_000)], "text": ["x" * 500] * 2_000}), wide)
    small = tmp_path / "small.parquet"
    pq.write_table(pa.table({"id": ["00000001", "00000002"], "tag": ["a", "b"]}), small)
    adaptive.read.parquet(str(wide)).createOrReplaceTempView("wide_rows")
    adaptive.read.parquet(str(small)).createOrReplaceTempView("small_rows")
    try:
        joined = adaptive.sql("SELECT w.id, s.tag FROM wide_rows AS w JOIN small_rows AS s USING (id) ORDER BY w.id")
        planned = joined._jdf.queryExecution().executedPlan().toString()
        assert "SortMergeJoin" in planned and "BroadcastHashJoin" not in planned
        assert [tuple(row) for row in joined.collect()] == [("00000001", "a"), ("00000002", "b")]
        # Measured after its shuffle, the two-row side is small enough to broadcast after all.
        assert "BroadcastHashJoin" in joined._jdf.queryExecution().executedPlan().toString()
    finally:
        adaptive.catalog.dropTempView("wide_rows")
        adaptive.catalog.dropTempView("small_rows")


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [
        ("-Dlog4j.configuration=ours.properties", "-XX:+UseParallelGC -Dlog4j.configuration=ours.properties"),
        ("-XX:+UseG1GC -XX:MaxGCPauseMillis=50", "-XX:+UseG1GC -XX:MaxGCPauseMillis=50"),  # their collector is theirs
    ],
)
def test_a_users_driver_java_options_keep_the_collector_unless_they_choose_one(theirs: str, expected: str) -> None:
    from revolt_pipeline.transforms.spark import LOCAL_CONF, SPARK_CONF, _with_local_java_options

    key = "spark.driver.extraJavaOptions"
    conf = {key: theirs, "spark.sql.shuffle.partitions": "8"}
    assert _with_local_java_options({**SPARK_CONF, **LOCAL_CONF}, conf) == {**conf, key: expected}
    assert _with_local_java_options(SPARK_CONF, conf) == conf  # a cluster's session: nothing of ours to keep
