"""REVOLT_ENGINE=spark: the cleaned layer's assets launch the Spark job as a subprocess through Dagster Pipes, and
the day it builds, and what the assets report of it, are the DuckDB path's."""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.spark.resources import SubprocessSparkLauncher
from revolt_pipeline.storage.layout import (
    aggregate_key,
    events_key,
    events_quarantine_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.aggregates import AGGREGATES
from revolt_pipeline_tests.pipes.conftest import (
    CLEANED_ASSETS,
    DAY,
    SMALL_DATA_CONF,
    comparable,
    materialize_day,
    partition_metadata,
)
from revolt_pipeline_tests.spark.compare import differences

pytestmark = pytest.mark.xdist_group("spark")

KEYS = {
    "events": events_key(DAY),
    "events_quarantine": events_quarantine_key(DAY),
    "sessionized_events": sessionized_events_key(DAY),
    "sessions": sessions_key(DAY),
    **{name: aggregate_key(name, DAY) for name in AGGREGATES},
}
ORDERED = {"events_quarantine", "sessions"}  # their queries order the rows


@pytest.fixture(scope="module")
def both_engines(spark_runtime: None, raw_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """DAY's cleaned layer materialized through Dagster on each engine, from copies of one raw lake."""
    built = {}
    for engine in ("duckdb", "spark"):
        store = Path(shutil.copytree(raw_lake, tmp_path_factory.mktemp(engine) / "store"))
        resources: dict[str, Any] = {"lake": LakeResource(url=store.as_uri())}
        if engine == "spark":
            resources["spark_launcher"] = SubprocessSparkLauncher(master="local[2]", spark_conf=SMALL_DATA_CONF)
        instance = dg.DagsterInstance.ephemeral()
        result = materialize_day(engine, resources, instance)
        assert result.success
        built[engine] = {"store": store, "instance": instance, "result": result}
    return built


def test_the_spark_job_writes_the_same_day_as_duckdb(both_engines: dict[str, Any]) -> None:
    for name, key in KEYS.items():
        duckdb_file, spark_file = (str(both_engines[engine]["store"] / key) for engine in ("duckdb", "spark"))
        assert differences(duckdb_file, spark_file, ordered=name in ORDERED) == [], name


def test_the_assets_report_the_same_metadata_and_checks_on_either_engine(both_engines: dict[str, Any]) -> None:
    duckdb, spark = both_engines["duckdb"], both_engines["spark"]
    for asset in CLEANED_ASSETS:
        expected = comparable(partition_metadata(duckdb["instance"], asset))
        assert comparable(partition_metadata(spark["instance"], asset)) == expected, asset
    assert comparable(partition_metadata(spark["instance"], "events"))["dagster/row_count"] > 0
    checks = {
        (check.asset_key.to_user_string(), check.check_name): check.passed
        for check in spark["result"].get_asset_check_evaluations()
    }
    assert len(checks) == 7 and all(checks.values()), checks


def test_the_run_says_it_ran_on_spark_and_how_long_it_took(both_engines: dict[str, Any]) -> None:
    for asset in CLEANED_ASSETS:
        metadata = partition_metadata(both_engines["spark"]["instance"], asset)
        assert metadata["engine"].value == "spark", asset
        assert metadata["spark/master"].value == "local[2]"
        assert metadata["spark/application_id"].value.startswith("local-")
        assert metadata["seconds/spark_session"].value > 0
    assert "engine" not in partition_metadata(both_engines["duckdb"]["instance"], "events")
