"""One local Spark session for every Spark test of a pytest session (it takes seconds to start)."""

import importlib.util
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from revolt_pipeline_tests.fixtures.services import unavailable


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A `local[2]` SparkSession on 127.0.0.1; the Spark tests skip (fail in CI) without Java or PySpark.

    SPARK_LOCAL_IP keeps Spark's own services on loopback: without it Spark takes the machine's first
    non-loopback address for them, whatever the driver's host is set to."""
    if shutil.which("java") is None:
        unavailable("Spark needs a Java runtime (17): apt-get install openjdk-17-jre-headless")
    if importlib.util.find_spec("pyspark") is None:
        unavailable("PySpark is not installed: pip install -e '.[test,spark]'")
    from revolt_pipeline.transforms.spark import SMALL_DATA_CONF, spark_session

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        with spark_session("local[2]", conf=SMALL_DATA_CONF) as session:
            yield session
