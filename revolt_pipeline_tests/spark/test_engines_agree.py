"""The same transforms on DuckDB and on Spark (`REVOLT_ENGINE`) write the same rows and values, layer by layer.

Landed records written by hand (every quarantine reason, a duplicate delivered a day later, identities stitched,
countries by address and by time zone, a session across midnight, one cut at the maximum length, two events of one
millisecond, repeated steps, names the report database cannot hold, a message whose numbers are spelled oddly)
are landed once beside a small day of the pipeline benchmark's own generator (full mobile contexts, duplicates,
thousands of people), then go through the raw, cleaned, sessions and aggregates layers on each engine from copies
of that landing area. The benchmark compares its large days the same way (`--engines duckdb,spark`).
"""

import gzip
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from benchmarks.synthetic_day import DAY as BENCHMARK_DAY
from benchmarks.synthetic_day import SEED, generate_day
from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay, aggregate_day, clean_days, sessionize_day
from revolt_pipeline.layers.engines import engine_connections
from revolt_pipeline.layers.raw import RawDay, build_raw_day
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.aggregates import AGGREGATES
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.spark.compare import differences
from revolt_pipeline_tests.transforms.harness import at, landed

pytestmark = pytest.mark.xdist_group("spark")

RULES = PipelineRules(max_session_length=timedelta(hours=1))
DAYS = [BENCHMARK_DAY, BENCHMARK_DAY + timedelta(days=1)]
AGGREGATE_DAY = DAYS[0]  # every aggregate of the busier day: each costs Spark a job, and CI's time is bounded
LONG_NAME = "Report " + "x" * 300
BENCHMARK_EVENTS = 3_000  # Spark's cost here is per statement, not per row: a bigger day would prove little more


def records() -> list[dict[str, Any]]:
    ten = at("2026-11-20 10:00")
    minutes = [ten + timedelta(minutes=n) for n in range(200)]
    return [
        # Anonymous, then identified: stitched; country by address (the message's), and by time zone.
        landed(
            "a-1",
            minutes[0],
            kind="page",
            user_id=None,
            anonymous_id="anon-1",
            event="Home",
            context={"ip": "8.8.8.8", "timezone": "Europe/Paris", "app": {}},
        ),
        landed("a-2", minutes[1], kind="page", user_id=None, anonymous_id="anon-1", event="Home"),
        landed(
            "a-3",
            minutes[2],
            kind="page",
            user_id=None,
            anonymous_id="anon-1",
            event="Pricing",
            context={"timezone": "Asia/Calcutta"},
        ),
        landed(
            "a-4", minutes[5], kind="identify", user_id="ada", anonymous_id="anon-1", event=None, traits={"plan": "pro"}
        ),
        landed("a-5", minutes[6], user_id="ada", event="Timer Started", properties={"project": "x", "n": 1.10}),
        # The same message delivered again the next day: a duplicate.
        landed("a-5", minutes[6], user_id="ada", event="Timer Started", received=at("2026-11-21 01:00")),
        landed("a-6", minutes[7], kind="page", user_id="ada", event=None, properties={"path": "/pricing"}),
        landed("a-7", minutes[8], user_id="ada", event=LONG_NAME, platform="ios", app_version="2.0"),
        landed("a-8", minutes[9], user_id="ada", event="Nul\u0000Name"),
        # Address from the collector (an IPv4-mapped IPv6 address, in capitals); a session across midnight.
        landed(
            "b-1",
            at("2026-11-20 23:50"),
            kind="screen",
            user_id="bob",
            event="Timesheet",
            platform="android",
            client_ip="::FFFF:1.1.1.1",
        ),
        landed("b-2", at("2026-11-21 00:10"), kind="screen", user_id="bob", event="Timesheet", platform="android"),
        landed("b-3", at("2026-11-21 00:11"), kind="screen", user_id="bob", event=None, platform="android"),
        # Two events of one millisecond, of two platforms: the first by messageId names the session's platform.
        landed("c-2", minutes[30], user_id="cy", event="Tie", platform="web"),
        landed("c-1", minutes[30], user_id="cy", event="Tie", platform="ios"),
        # Every 20 minutes for 100 minutes: cut at the maximum length (an hour here).
        *[landed(f"d-{n}", minutes[20 * n], user_id="dee", event="Tick") for n in range(6)],
        # Quarantined: no identity, an unknown type, a track without a name, and one received too late.
        landed("q-1", minutes[40], user_id=None, anonymous_id=None),
        landed("q-2", minutes[41], kind="launch", user_id="eve"),
        landed("q-3", minutes[42], user_id="eve", event="  "),
        landed("q-4", at("2026-11-17 09:00"), user_id="eve", event="Late", received=at("2026-11-21 09:00")),
        # Alias: an old user id now known by a new one.
        landed("e-1", minutes[50], user_id="old-fay", event="Before Alias"),
        landed("e-2", minutes[51], kind="alias", user_id="fay", previous_id="old-fay", event=None),
        landed("e-3", minutes[52], user_id="fay", event="After Alias", batch_context={"locale": "fr-FR"}),
        # The batch's context merged under the message's, nested objects key by key, the message winning.
        landed(
            "e-4",
            minutes[53],
            user_id="fay",
            event="Merged",
            context={"app": {"version": "3.1"}, "locale": "de-DE", "traits": {"vip": True}},
            batch_context={"app": {"build": "77", "version": "3.0"}, "locale": "fr-FR", "library": {"name": "x"}},
            properties={"count": 3, "ratio": 0.25, "tags": ["a", "b"], "nested": {"k": None}, "empty": {}},
        ),
    ]


@dataclass
class Built:
    raw: list[RawDay]
    cleaned: list[CleanDay]
    sessions: list[SessionDay]
    aggregates: list[AggregateDay]
    landed: list[Path]  # the landed objects' files


def sent_twice() -> list[dict[str, Any]]:
    """`a-6` again, received by the same collector in the same millisecond and spooled to another segment, whose name
    sorts first: the delivery cleaning keeps on either engine, whatever order Spark's shuffle gives raw's rows."""
    return [
        landed(
            "a-6",
            at("2026-11-20 10:07"),
            kind="page",
            user_id="ada",
            event=None,
            properties={"path": "/pricing"},
            client_ip="192.0.2.9",
        )
    ]


def land(store: ObjectStore, landed_records: list[dict[str, Any]], segment: str = "000001") -> list[date]:
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for record in landed_records:
        received = datetime.fromtimestamp(record["receivedAt"] / 1000, UTC)
        by_hour.setdefault(received.replace(minute=0, second=0, microsecond=0), []).append(record)
    for hour, hour_records in sorted(by_hour.items()):
        store.put(
            landed_object_key(LANDING, hour, "c1", segment),
            gzip.compress(b"".join(orjson.dumps(record) + b"\n" for record in hour_records)),
        )
    return sorted({hour.date() for hour in by_hour})


def build(folder: Path, engine: str, spark: Any) -> Built:
    store = ObjectStore((folder / "store").as_uri())
    work = folder / "work"
    work.mkdir()
    with engine_connections(engine, spark_session=spark) as engines:
        with engines.raw_connect() as connection:
            landed_days = sorted(set(land(store, records())) | set(land(store, sent_twice(), segment="000000")))
            generate_day(folder / "store", BENCHMARK_EVENTS, files_per_hour=1, seed=SEED)
            raw = [build_raw_day(store, connection, day, RULES, work) for day in landed_days]
        with engines.connect() as connection:
            cleaned = list(clean_days(store, connection, DAYS, RULES, work))
        with engines.connect() as connection:
            sessions = [sessionize_day(store, connection, day, RULES, work) for day in DAYS]
        with engines.connect() as connection:
            aggregates = [aggregate_day(store, connection, AGGREGATE_DAY, work)]
    return Built(raw, cleaned, sessions, aggregates, sorted((folder / "store" / LANDING).rglob("*.jsonl.gz")))


@pytest.fixture(scope="module")
def built(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """The records landed and built through every layer on each engine, in a lake of its own."""
    return {engine: build(tmp_path_factory.mktemp(engine), engine, spark) for engine in ("duckdb", "spark")}


def test_raw_events_identity_links_and_profiles_are_the_same(built: dict[str, Built]) -> None:
    assert sum(day.rows for day in built["spark"].raw) > BENCHMARK_EVENTS  # the benchmark's day is compared too
    for duck, spark in zip(built["duckdb"].raw, built["spark"].raw, strict=True):
        assert (duck.day, duck.rows, duck.landed_objects) == (spark.day, spark.rows, spark.landed_objects)
        assert duck.profile == spark.profile
        assert differences(duck.raw_path, spark.raw_path, ordered=False) == [], duck.day
        links = str(Path(duck.raw_path).with_name(f"links-{duck.day}.parquet"))
        assert (
            differences(
                links, links.replace(str(Path(duck.raw_path).parent), str(Path(spark.raw_path).parent)), ordered=False
            )
            == []
        )
    names = {name for day in built["spark"].raw for name in pq.read_table(day.raw_path)["landed_file"].to_pylist()}
    landed_names = {path.name for path in built["spark"].landed}
    assert names == landed_names and len(names) > 1
    merged = [
        row
        for day in built["spark"].raw
        for row in pq.read_table(day.raw_path).to_pylist()
        if row["message_id"] == "e-4"
    ]
    context = orjson.loads(merged[0]["context"])
    assert (context["app"], context["library"], context["locale"]) == (
        {"build": "77", "version": "3.1"},
        {"name": "x"},
        "de-DE",
    )


def test_cleaned_events_and_quarantine_are_the_same(built: dict[str, Built]) -> None:
    for duck, spark in zip(built["duckdb"].cleaned, built["spark"].cleaned, strict=True):
        assert (duck.assigned_rows, duck.events, duck.quarantined) == (
            spark.assigned_rows,
            spark.events,
            spark.quarantined,
        )
        assert differences(duck.events_path, spark.events_path, ordered=False) == [], duck.day
        assert differences(duck.quarantine_path, spark.quarantine_path, ordered=True) == [], duck.day
    quarantined = {reason for day in built["spark"].cleaned for reason in day.quarantined}
    assert quarantined == {"duplicate", "missing_identity", "unknown_type", "missing_event_name", "too_late"}
    kept = [
        row["ip"]
        for day in built["spark"].cleaned
        for row in pq.read_table(day.events_path, columns=["message_id", "ip"]).to_pylist()
        if row["message_id"] == "a-6"
    ]
    assert kept == ["192.0.2.9"]  # sent_twice's delivery, in the landed file whose name sorts first


def test_sessionized_events_and_sessions_are_the_same(built: dict[str, Built]) -> None:
    for duck, spark in zip(built["duckdb"].sessions, built["spark"].sessions, strict=True):
        assert (duck.sessions, duck.inconsistent_sessions) == (spark.sessions, spark.inconsistent_sessions)
        assert differences(duck.events_path, spark.events_path, ordered=False) == [], duck.day
        assert differences(duck.sessions_path, spark.sessions_path, ordered=True) == [], duck.day
    assert sum(day.sessions for day in built["spark"].sessions) >= 6


def test_every_daily_aggregate_is_the_same(built: dict[str, Built]) -> None:
    for duck, spark in zip(built["duckdb"].aggregates, built["spark"].aggregates, strict=True):
        assert set(duck.outputs) == set(spark.outputs) == set(AGGREGATES)
        for name in AGGREGATES:
            assert differences(duck.outputs[name], spark.outputs[name], ordered=True) == [], (name, duck.day)
        assert (duck.made_safe, duck.paths) == (spark.made_safe, spark.paths)
        assert duck.unbalanced_events == spark.unbalanced_events == [], duck.day  # events_balance runs on Spark too
