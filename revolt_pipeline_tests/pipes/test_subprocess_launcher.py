"""REVOLT_ENGINE=spark: the lake assets' layer runner launches the Spark job as a subprocess through Dagster Pipes,
and the days it builds, and what the assets report of them, are the DuckDB runner's: two steps of the cleaned layer
(`events`, `sessionized`) and, past it, the people step (`person_days`, `people` and the active users it writes).

Each launch starts a Spark session, so the run stops there: `daily_aggregates` and the later steps go through the same
job and the same asset code; their layer functions on Spark are compared by `spark/test_demo_week.py` and their
results' trip through the messages by `test_messages.py`; the Glue test launches `events` through spark-submit."""

import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import InProcessLayerRunner, LayerRunner, SparkLayerRunner
from revolt_pipeline.defs.spark.resources import SubprocessSparkLauncher
from revolt_pipeline.storage.layout import (
    events_key,
    events_quarantine_key,
    people_key,
    person_days_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline_tests.pipes.conftest import (
    DAY,
    SMALL_DATA_CONF,
    comparable,
    materialize_day,
    partition_metadata,
)
from revolt_pipeline_tests.spark.compare import differences

pytestmark = pytest.mark.xdist_group("spark")

# The assets of the steps launched: `events`, `sessionized`, `people`.
LAKE_ASSETS = ("events", "events_quarantine", "sessionized_events", "sessions", "person_days", "people")
KEYS = {
    "events": events_key(DAY),
    "events_quarantine": events_quarantine_key(DAY),
    "sessionized_events": sessionized_events_key(DAY),
    "sessions": sessions_key(DAY),
    "person_days": person_days_key(DAY),
    "people": people_key(DAY),
}
ORDERED = {events_quarantine_key(DAY), sessions_key(DAY)}  # their queries order the rows


def _objects(store: Path) -> dict[str, Path]:
    return {str(path.relative_to(store)): path for path in sorted(store.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def both_engines(spark_runtime: None, raw_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """DAY's events, sessions and people materialized through Dagster by each runner, in one run (Dagster orders the
    steps), from copies of one raw lake."""
    built = {}
    runners: dict[str, LayerRunner] = {
        "duckdb": InProcessLayerRunner(),
        "spark": SparkLayerRunner(launcher=SubprocessSparkLauncher(master="local[2]", spark_conf=SMALL_DATA_CONF)),
    }
    for engine, runner in runners.items():
        store = Path(shutil.copytree(raw_lake, tmp_path_factory.mktemp(engine) / "store"))
        lake = LakeResource(url=store.as_uri())
        instance = dg.DagsterInstance.ephemeral()
        result = materialize_day(runner, lake, instance, list(LAKE_ASSETS))
        assert result.success
        built[engine] = {"store": store, "instance": instance, "result": result}
    return built


def test_the_spark_jobs_write_the_same_objects_as_duckdb(both_engines: dict[str, Any]) -> None:
    duck, spark = (_objects(both_engines[engine]["store"]) for engine in ("duckdb", "spark"))
    assert list(duck) == list(spark)
    assert set(KEYS.values()) <= set(duck)
    assert any(key.startswith("active_users/") for key in duck), "the people step writes the active users too"
    for key, path in duck.items():
        if key.endswith(".parquet"):
            assert differences(str(path), str(spark[key]), ordered=key in ORDERED) == [], key
        elif key.endswith(".json"):  # commit records
            assert json.loads(path.read_text()) == json.loads(spark[key].read_text()), key


def test_the_assets_report_the_same_metadata_and_checks_on_either_engine(both_engines: dict[str, Any]) -> None:
    duckdb, spark = both_engines["duckdb"], both_engines["spark"]
    for asset in LAKE_ASSETS:
        expected = comparable(partition_metadata(duckdb["instance"], asset))
        assert comparable(partition_metadata(spark["instance"], asset)) == expected, asset
    assert comparable(partition_metadata(spark["instance"], "events"))["dagster/row_count"] > 0
    assert partition_metadata(spark["instance"], "people")["new_people"].value > 0
    checks = {
        (check.asset_key.to_user_string(), check.check_name): check.passed
        for check in spark["result"].get_asset_check_evaluations()
    }
    assert len(checks) == 7 and all(checks.values()), checks


def test_the_run_says_it_ran_on_spark_and_how_long_it_took(both_engines: dict[str, Any]) -> None:
    for asset in LAKE_ASSETS:
        metadata = partition_metadata(both_engines["spark"]["instance"], asset)
        assert metadata["engine"].value == "spark", asset
        assert metadata["spark/master"].value == "local[2]"
        assert metadata["spark/application_id"].value.startswith("local-")
        assert metadata["seconds/spark_session"].value > 0
    assert "engine" not in partition_metadata(both_engines["duckdb"]["instance"], "events")
    assert partition_metadata(both_engines["duckdb"]["instance"], "people")["run_seconds/people"].value > 0
