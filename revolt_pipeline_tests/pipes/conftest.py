"""A lake holding the raw layer of a few received days, for the Spark job to build the later layers from, and the
assets that build them materialized through either layer runner."""

import gzip
import importlib.util
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import pytest

from revolt_pipeline.defs.cleaned.assets import build_cleaned_assets
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner, SparkLayerRunner
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.people.assets import build_people_assets
from revolt_pipeline.layers.raw import build_raw_day
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.services import unavailable
from revolt_pipeline_tests.transforms.harness import at, landed

DAY = date(2026, 11, 20)
RULES = PipelineRules(max_session_length=timedelta(hours=1))
PARTITIONS = daily_partitions("2026-11-01")
CLEANED_ASSETS = ("events", "events_quarantine", "sessionized_events", "sessions", "daily_aggregates")
# Metadata only one engine reports, or whose value is a time.
RUN_FACTS = ("engine", "spark/", "seconds/", "run_seconds/", "AWS ")
# A few thousand rows: compiling each query costs Spark more than running it (transforms/spark.py).
SMALL_DATA_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.shuffle.partitions": "1",
}


def records() -> list[dict[str, Any]]:
    """A day of two people and an anonymous visitor stitched by an identify, a duplicate delivered the next day,
    a quarantined track without a name, a session across midnight and one cut at the maximum length."""
    ten = at("2026-11-20 10:00")
    minute = [ten + timedelta(minutes=n) for n in range(120)]
    return [
        landed("a-1", minute[0], kind="page", user_id=None, anonymous_id="anon-1", event="Home"),
        landed("a-2", minute[2], kind="identify", user_id="ada", anonymous_id="anon-1", event=None),
        landed("a-3", minute[3], user_id="ada", event="Timer Started", properties={"project": "x"}),
        landed("a-3", minute[3], user_id="ada", event="Timer Started", received=at("2026-11-21 01:00")),
        landed("a-4", minute[5], kind="screen", user_id="ada", event="Timesheet", platform="ios"),
        landed("a-5", minute[6], user_id="ada", event=None),
        landed("b-1", at("2026-11-20 23:50"), user_id="bob", event="Late Night", platform="android"),
        landed("b-2", at("2026-11-21 00:10"), user_id="bob", event="Late Night", platform="android"),
        *[landed(f"d-{n}", minute[20 * n], user_id="dee", event="Tick") for n in range(5)],
    ]


def land(store: ObjectStore, landed_records: list[dict[str, Any]]) -> list[date]:
    """The records as the collector lands them, one file per received hour; the received days."""
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for record in landed_records:
        received = datetime.fromtimestamp(record["receivedAt"] / 1000, UTC)
        by_hour.setdefault(received.replace(minute=0, second=0, microsecond=0), []).append(record)
    for hour, hour_records in sorted(by_hour.items()):
        body = gzip.compress(b"".join(orjson.dumps(record) + b"\n" for record in hour_records))
        store.put(landed_object_key(LANDING, hour, "c1", "000001"), body)
    return sorted({hour.date() for hour in by_hour})


def build_raw(store: ObjectStore, workdir: Path) -> None:
    """The raw layer of every received day (DuckDB's: the raw layer has no Spark mapping yet)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with duckdb_connection() as connection:
        for day in land(store, records()):
            build_raw_day(store, connection, day, RULES, workdir)


@pytest.fixture(scope="session")
def raw_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store holding the landed days and their raw layer: copy it before building on it."""
    folder = tmp_path_factory.mktemp("raw-lake")
    build_raw(ObjectStore((folder / "store").as_uri()), folder / "work")
    return folder / "store"


@pytest.fixture
def lake_copy(raw_lake: Path, tmp_path: Path) -> Iterator[Any]:
    """A fresh copy of the raw lake per call: `lake_copy("name")` is its store folder."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(raw_lake, tmp_path / name))

    yield copy


@pytest.fixture(scope="session")
def spark_runtime() -> None:
    """Java and PySpark, or the test is skipped (fails in CI)."""
    if shutil.which("java") is None:
        unavailable("Spark needs a Java runtime (17): apt-get install openjdk-17-jre-headless")
    if importlib.util.find_spec("pyspark") is None:
        unavailable("PySpark is not installed: pip install -e '.[test,spark]'")


def lake_assets(engine: str) -> list[dg.AssetsDefinition]:
    """The cleaned layer's assets and the people step (`person_days`, `people`): the lake assets these tests build."""
    return [*build_cleaned_assets(PARTITIONS, RULES, engine), build_people_assets(PARTITIONS, RULES, engine)[0]]


def materialize_day(
    runner: LayerRunner,
    lake: LakeResource,
    instance: dg.DagsterInstance,
    selection: list[str] | None = None,
    *,
    raise_on_error: bool = True,
) -> Any:
    """The cleaned layer's assets (or `selection` of them and the people step's) of DAY, in one run."""
    engine = "spark" if isinstance(runner, SparkLayerRunner) else "duckdb"
    return dg.materialize(
        lake_assets(engine),
        resources={"lake": lake, "layer_runner": runner},
        partition_key=DAY.isoformat(),
        instance=instance,
        selection=selection or list(CLEANED_ASSETS),
        raise_on_error=raise_on_error,
    )


def partition_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, Any]:
    """The metadata of DAY's latest materialization of `asset`."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[DAY.isoformat()]), limit=1
    ).records
    assert records, f"no materialization of {asset} for {DAY}"
    return dict(records[0].asset_materialization.metadata)


def comparable(metadata: dict[str, Any]) -> dict[str, Any]:
    """What a partition shows but its run's own facts and times, and where the lake is. Of the column schema, the
    names and descriptions: Spark writes DuckDB's JSON columns as plain strings (docs/scale-out.md). Of the
    preview, its columns: it shows a file's first rows, and neither engine promises the order of a file's rows (the
    files themselves are compared row for row, in any order)."""
    shown = {
        key: getattr(value, "value", value)
        for key, value in metadata.items()
        if not key.startswith(RUN_FACTS) and key != "uri"
    }
    if "dagster/column_schema" in shown:
        columns = shown.pop("dagster/column_schema").columns
        shown["columns"] = [(column.name, column.description) for column in columns]
    if isinstance(shown.get("preview"), str):
        shown["preview"] = shown["preview"].splitlines()[0]
    return shown
