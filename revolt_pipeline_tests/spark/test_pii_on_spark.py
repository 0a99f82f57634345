"""PII keys are hashed and dropped alike on Spark and DuckDB: one Python function over Arrow batches on both, so a
pseudonym made by either engine joins with the other's."""

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.layers.cleaned import clean_days
from revolt_pipeline.layers.engines import engine_connections
from revolt_pipeline.layers.raw import build_raw_day
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection, parquet
from revolt_pipeline.transforms.pii import PiiRules
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.spark.test_engines_agree import land
from revolt_pipeline_tests.transforms.harness import at, landed

pytestmark = pytest.mark.xdist_group("spark")

SALT = "spark-salt"
RULES = PipelineRules(pii=PiiRules(("email", "traits.name"), ("secret",), salt=SALT))
DAY = date(2026, 11, 20)
RECORDS = [
    landed(
        "i-1",
        at("2026-11-20 10:00"),
        kind="identify",
        traits={"email": "ada@example.com", "name": "Ada", "secret": "x", "plan": "team"},
    ),
    landed("t-1", at("2026-11-20 10:01"), properties={"name": "Pro", "to": [{"Email": "bob@example.com"}]}),
    landed("t-1", at("2026-11-20 10:01"), received=at("2026-11-20 10:30"), properties={"email": "a@b.io"}),
]


def cleaned(folder: Path, engine: str, spark: Any) -> list[tuple[Any, ...]]:
    store = ObjectStore((folder / "store").as_uri())
    (folder / "work").mkdir()
    with engine_connections(engine, spark_session=spark) as engines, engines.connect() as connection:
        (day,) = clean_days(store, connection, [DAY], RULES, folder / "work")
    with duckdb_connection(threads=1) as reader:
        events = reader.execute(
            f"SELECT message_id, CAST(properties AS VARCHAR), CAST(traits AS VARCHAR) FROM {parquet(day.events_path)} "
            "ORDER BY message_id"
        ).fetchall()
        quarantined = reader.execute(f"SELECT message FROM {parquet(day.quarantine_path)}").fetchall()
    return [*events, *quarantined]


def test_spark_hashes_and_drops_what_duckdb_does(spark: Any, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    store = ObjectStore((raw / "store").as_uri())
    (raw / "work").mkdir(parents=True)
    with duckdb_connection(threads=1) as connection:
        for day in land(store, RECORDS):
            build_raw_day(store, connection, day, RULES, raw / "work")
    rows = {}
    for engine in ("duckdb", "spark"):
        shutil.copytree(raw / "store", tmp_path / engine / "store")
        rows[engine] = cleaned(tmp_path / engine, engine, spark)
    assert rows["spark"] == rows["duckdb"]
    text = repr(rows["spark"])
    assert pseudonym(SALT, "ada@example.com") in text and pseudonym(SALT, "bob@example.com") in text
    assert pseudonym(SALT, "a@b.io") in text  # the quarantined duplicate's message
    assert not any(value in text for value in ("ada@example.com", "bob@example.com", "a@b.io", '"secret"'))
    assert '"name":"Pro"' in text
