"""The settings of a local Spark session that let a day of millions of events through a small heap."""

import os
import subprocess
import sys
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


# Stands for our -Dlog4j2.configurationFile=<the shipped file> in the expected options.
OUR_LOGGING = "our logging configuration"
# Both spellings of a properties file's line.
SPARK_DEFAULTS = "spark.driver.defaultJavaOptions  -XX:+UseSerialGC\nspark.driver.extraJavaOptions=-Dx=1\n"


@pytest.mark.parametrize(
    ("conf", "environ", "conf_files", "expected"),
    [
        # Options of their own are added to ours; a collector or a logging configuration of theirs replaces ours.
        ({"spark.driver.extraJavaOptions": "-Dx=1"}, {}, {}, ["-XX:+UseParallelGC", OUR_LOGGING, "-Dx=1"]),
        (
            {"spark.driver.extraJavaOptions": "-XX:+UseG1GC -XX:MaxGCPauseMillis=50"},
            {},
            {},
            [OUR_LOGGING, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=50"],
        ),
        (
            {"spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=mine.xml"},
            {},
            {},
            ["-XX:+UseParallelGC", "-Dlog4j2.configurationFile=mine.xml"],
        ),
        # The JVM reads these too: a collector in them with ours beside it, and the JVM would refuse to start.
        ({"spark.driver.defaultJavaOptions": "-XX:+UseG1GC"}, {}, {}, [OUR_LOGGING]),
        ({}, {"JDK_JAVA_OPTIONS": "-XX:+UseZGC"}, {}, [OUR_LOGGING]),
        ({}, {"JAVA_TOOL_OPTIONS": "-XX:+UseSerialGC -Dlog4j.configuration=file:mine.properties"}, {}, []),
        ({}, {"LOG4J_CONFIGURATION_FILE": "mine.xml"}, {}, ["-XX:+UseParallelGC"]),
        # Spark's configuration folder: a logging file on the driver's classpath, and spark-defaults.conf's options,
        # which a session's own extraJavaOptions would replace.
        ({}, {}, {"log4j2.properties": "rootLogger.level = info\n"}, ["-XX:+UseParallelGC"]),
        (
            {},
            {},
            {"spark-defaults.conf": SPARK_DEFAULTS},
            [OUR_LOGGING, "-Dx=1"],
        ),
    ],
)
def test_our_driver_java_options_give_way_to_the_users(
    conf: dict[str, str], environ: dict[str, str], conf_files: dict[str, str], expected: list[str], tmp_path: Path
) -> None:
    from revolt_pipeline.transforms.spark import LOG4J2_PROPERTIES, local_driver_java_options

    for name, text in conf_files.items():
        (tmp_path / name).write_text(text)
    ours = f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()}"
    options = local_driver_java_options(conf, {**environ, "SPARK_CONF_DIR": str(tmp_path)})
    assert options.split() == [ours if option == OUR_LOGGING else option for option in expected]


QUIET_SESSION = """
import pyarrow as pa
from revolt_pipeline.transforms.spark import SMALL_DATA_CONF, spark_connection, spark_session

with spark_session("local[1]", conf=SMALL_DATA_CONF) as session:
    jvm = session.sparkContext._jvm
    print(sorted(bean.getName() for bean in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()))
    session.createDataFrame(pa.table({"n": [1]})).collect()  # PySpark's pandas check runs here
    for step in range(2):  # each step's connection registers the transforms' functions again
        with spark_connection(session) as connection:
            connection.create_function("revolt_same_text", lambda texts: texts, ["VARCHAR"], "VARCHAR")
            for day in range(2):  # a lookup table made again for each day, as a query with a WITH clause
                connection.execute(
                    "CREATE OR REPLACE TEMP TABLE lookup AS WITH zones AS (SELECT 'Europe/Paris' AS zone) "
                    "SELECT zone FROM zones"
                )
    try:
        session.range(1).selectExpr("raise_error(concat('revolt test failure ', id))").collect()
    except Exception:
        pass
"""


def test_a_local_session_starts_quietly_with_the_users_collector_and_still_shows_a_failing_task(
    spark: Any, tmp_path: Path
) -> None:
    # Its own process: a JVM's options and logging are fixed when it starts, and the shared session's has started.
    environ = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_CONF_DIR": str(tmp_path),
        "JDK_JAVA_OPTIONS": "-XX:+UseG1GC",
    }
    job = subprocess.run(
        [sys.executable, "-c", QUIET_SESSION], env=environ, capture_output=True, text=True, timeout=300
    )
    assert job.returncode == 0, job.stderr  # not "Multiple garbage collectors selected"
    assert job.stdout.strip() == "['G1 Old Generation', 'G1 Young Generation']"
    for noise in (
        "Using Spark's default log4j profile",
        "Setting default log level",
        "NativeCodeLoader",
        "spark.local.dir",
        "PySpark does not yet fully support pandas",
        "replaced a previously registered function",
        "Asked to cache already cached data",
    ):
        assert noise not in job.stderr
    assert "ERROR Executor: Exception in task" in job.stderr and "revolt test failure 0" in job.stderr
