"""The demo's traffic through every layer on DuckDB and on Spark (`REVOLT_ENGINE`): the same lake, file for file.

A small demo (few people, a few days, from `revolt demo`'s planner and its in-process collector) is landed once,
then built from copies of the landing area by the layer library's `DayBuilder` on each engine: raw, cleaned,
sessions, the daily aggregates and paths, people and active users, funnels, lifecycle and retention, and the ML
features as of the day after. Every object of the two lakes is compared: Parquet files row for row and value for
value (`compare.differences`), JSON documents (raw profiles, commit manifests) as parsed.
"""

import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from revolt_pipeline.demo.generator import DEMO_FUNNELS_FILE
from revolt_pipeline.demo.run import run_demo_traffic
from revolt_pipeline.layers.days import BuiltDays, DayBuilder
from revolt_pipeline.layers.engines import engine_connections
from revolt_pipeline.layers.funnels import read_funnels
from revolt_pipeline.layers.ml import FeaturesDay, build_person_features, cutoff_of
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.pipeline.harness import pipeline_environment
from revolt_pipeline_tests.spark.compare import differences

pytestmark = pytest.mark.xdist_group("spark")

# Small on purpose: Spark spends a fraction of a second on every statement whatever the data, and a day is
# about a hundred statements through every layer (CI's time is bounded). Two days of traffic land on three
# received days and are cleaned into four event days (a day more on each side for the sessions).
USERS = 6
DAYS = 2
START = date(2026, 11, 2)
# The demo's funnels, one of each order (strict, sequential, any), as `revolt demo` configures them, and retention
# anchored on two of its events besides the first-seen definition: the rules that change the SQL the layers run.
RULES = PipelineRules(
    funnels=read_funnels(DEMO_FUNNELS_FILE),
    retention_start_event="Timer Started",
    retention_return_event="Entry Saved",
)


@dataclass
class Lake:
    root: Path
    built: BuiltDays
    features: FeaturesDay

    def objects(self) -> dict[str, Path]:
        return {
            str(path.relative_to(self.root)): path
            for path in sorted(self.root.rglob("*"))
            if path.is_file() and not str(path.relative_to(self.root)).startswith(LANDING)
        }


def build(folder: Path, landing: Path, engine: str, spark: Any, received: list[date]) -> Lake:
    shutil.copytree(landing, folder / "store" / LANDING)
    store = ObjectStore((folder / "store").as_uri())
    work = folder / "work"
    work.mkdir()
    with engine_connections(engine, spark_session=spark) as engines:
        builder = DayBuilder(store, RULES, work, connect=engines.connect, raw_connect=engines.raw_connect)
        built = builder.every_layer(received)
        with engines.connect() as connection:
            features = build_person_features(store, connection, cutoff_of(max(built.event_dates)), work)
    return Lake(folder / "store", built, features)


@pytest.fixture(scope="module")
def lakes(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Lake]:
    home = tmp_path_factory.mktemp("demo-week")
    with pytest.MonkeyPatch.context() as patch:
        settings = pipeline_environment(patch, home)
        sent = run_demo_traffic(
            settings, seed=3, users=USERS, days=DAYS, start=START, collector_url=None, ground_truth_path=None
        )
    first, last = sent.traffic.messages[0].send_time.date(), sent.traffic.end.date()
    received = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    landing = Path(settings.store.path(LANDING))
    return {
        engine: build(tmp_path_factory.mktemp(engine), landing, engine, spark, received)
        for engine in ("duckdb", "spark")
    }


def test_the_demo_covers_every_layer(lakes: dict[str, Lake]) -> None:
    """What the comparison below is worth: the demo's lake holds rows in every layer."""
    lake = lakes["duckdb"]
    assert len(lake.built.raw) >= 2 and len(lake.built.event_dates) >= 3
    assert {"identify", "track", "page", "screen"} <= {
        kind for day in lake.built.raw for kind in day.profile.rows_by_type
    }
    assert sum(day.events for day in lake.built.cleaned) > 100
    assert sum(day.sessions for day in lake.built.sessions) > 10
    assert sum(day.counts.people for day in lake.built.people) > 0
    assert any(day.counts.identified for day in lake.built.people)
    assert lake.built.funnels.days and lake.built.retention
    entered = {
        funnel
        for key, path in lake.objects().items()
        if key.startswith("funnel_progress/")
        for funnel in pq.read_table(path, columns=["funnel"]).column("funnel").to_pylist()
    }
    assert entered == {funnel.name for funnel in RULES.funnels}  # the filters' funnel too (by a property's value)
    assert lake.features.people > 0
    prefixes = {key.split("/")[0] for key in lake.objects()}
    assert {"raw_events", "identity_links", "events", "sessions", "aggregates", "people", "person_days"} <= prefixes
    assert {"active_users", "funnel_steps", "cohort_activity", "lifecycle", "retention", "person_features"} <= prefixes
    assert {"person_platforms"} <= prefixes


def test_both_engines_write_the_same_objects(lakes: dict[str, Lake]) -> None:
    assert list(lakes["duckdb"].objects()) == list(lakes["spark"].objects())


def test_every_parquet_file_holds_the_same_rows_and_values(lakes: dict[str, Lake]) -> None:
    duck, spark = lakes["duckdb"].objects(), lakes["spark"].objects()
    found = {
        key: difference
        for key, path in duck.items()
        if key.endswith(".parquet") and key in spark
        if (difference := differences(str(path), str(spark[key]), ordered=False))
    }
    assert found == {}
    assert sum(key.endswith(".parquet") for key in duck) > 100


def test_profiles_and_commit_manifests_are_the_same(lakes: dict[str, Lake]) -> None:
    duck, spark = lakes["duckdb"].objects(), lakes["spark"].objects()
    documents = [key for key in duck if key.endswith(".json")]
    assert any(key.startswith("raw_profiles/") for key in documents)
    for key in documents:
        assert json.loads(duck[key].read_text()) == json.loads(spark[key].read_text()), key


def test_the_layer_librarys_results_are_the_same(lakes: dict[str, Lake]) -> None:
    """What the builders return (counts, drift findings, funnels and retention summaries) besides the files."""
    duck, spark = lakes["duckdb"].built, lakes["spark"].built
    assert [(day.day, day.rows, day.profile, day.drift) for day in duck.raw] == [
        (day.day, day.rows, day.profile, day.drift) for day in spark.raw
    ]
    assert [(day.day, day.events, day.quarantined) for day in duck.cleaned] == [
        (day.day, day.events, day.quarantined) for day in spark.cleaned
    ]
    assert [(day.day, day.counts) for day in duck.people] == [(day.day, day.counts) for day in spark.people]
    assert lakes["duckdb"].features.people == lakes["spark"].features.people
