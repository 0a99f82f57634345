"""Faults in the pipeline, on real servers: S3 refusing during raw_events and cleaning, PostgreSQL restarted or
stopped during the report load.

Each test runs the real jobs on a lake in moto S3, reached through a fault proxy, and a report database on
a PostgreSQL cluster of this module's own. A fault either is retried away or fails the run with a clear
error and nothing downstream would take as complete; either way, once repaired, every lake object and
every report row equals those of a reference run that met no fault.
"""

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.base import PartitionKeyFilter

from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.ingestion.resources import InProcessCollectorResource
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import COMMITS
from revolt_pipeline.transforms.engine import duckdb_connection, parquet
from revolt_pipeline_tests.fixtures.faults import FaultyProxy, stall_first_insert, wait_for_stall
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.s3 import S3Server
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, rfc3339, running_pipeline, track

pytestmark = pytest.mark.services

DAY_1, DAY_2 = date(2026, 11, 17), date(2026, 11, 18)
FIRST, LAST = DAY_1.isoformat(), DAY_2.isoformat()
MORNING = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
LAKE_AREAS = (
    "raw_events",
    "identity_links",
    "raw_profiles",
    "events",
    "events_quarantine",
    "sessionized_events",
    "sessions",
    "aggregates",
    COMMITS,
)
# Three attempts in all, a few hundredths of a second apart: enough to see retries, quick to exhaust.
QUICK_RETRIES = {"retries": 2, "retry_seconds": 0.02}
# Enough to outlast a PostgreSQL restart on a busy machine: at least 3 s of waiting over six retries.
PATIENT_RETRIES = {"retries": 6, "retry_seconds": 0.1}


def anonymous(message_id: str, anonymous_id: str, moment: datetime, event: str = "App Opened") -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "event": event,
        "originalTimestamp": rfc3339(moment),
        "context": {"app": {"version": "4.2"}},
    }


def deliver(pipeline: Pipeline) -> None:
    """Two received days: an identity stitched from its raw day's links, a duplicate, a late and a too-late event."""
    pipeline.send(
        MORNING,
        [
            anonymous("m01", "anon-ada", MORNING),
            track("m02", "ada", MORNING + timedelta(minutes=5), anonymousId="anon-ada"),
            track("m03", "bob", MORNING + timedelta(hours=1)),
        ],
    )
    later = MORNING + timedelta(hours=2)
    pipeline.send(later, [track("m03", "bob", MORNING + timedelta(hours=1)), track("m04", "bob", later)])
    pipeline.complete(DAY_1)
    next_morning = MORNING + timedelta(days=1)
    offline = track("m05", "cyd", datetime(2026, 11, 17, 23, 50, tzinfo=UTC))  # delivered the next morning
    pipeline.send(next_morning, [offline, track("m06", "ada", next_morning), anonymous("m07", "anon-dan", later)])
    too_late = track("m08", "eve", datetime(2026, 11, 13, 12, 0, tzinfo=UTC))
    pipeline.send(next_morning + timedelta(hours=4), [too_late])
    pipeline.complete(DAY_2)


def environment(
    monkeypatch: pytest.MonkeyPatch,
    home: Path,
    s3: S3Server,
    postgres: PostgresServer,
    retries: dict[str, float] = QUICK_RETRIES,
) -> tuple[Settings, str]:
    """Settings for a fresh bucket and report database; returns them with the database's name."""
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    database = f"faults_{uuid.uuid4().hex[:12]}"
    settings = pipeline_environment(
        monkeypatch,
        home,
        REVOLT_STORAGE_URL=f"s3://{bucket}/lake",
        REVOLT_S3_ENDPOINT_URL=s3.endpoint_url,
        REVOLT_REPORT_DB_URL=postgres.create_database(database),
        REVOLT_COLLECTOR_ID="faults-collector",  # the same in every run: it is a column of raw_events
        REVOLT_PIPELINE_RETRIES=str(retries["retries"]),
        REVOLT_PIPELINE_RETRY_SECONDS=str(retries["retry_seconds"]),
    )
    return settings, database


@contextmanager
def pipeline_through(settings: Settings, proxy: FaultyProxy | None) -> Iterator[Pipeline]:
    """The pipeline with its lake reached through `proxy`; the collector lands directly, so faults hit jobs only."""
    with running_pipeline(settings, MORNING) as pipeline:
        if proxy is not None:
            faulty = dataclasses.replace(settings, s3_endpoint_url=proxy.endpoint_url)
            collector = InProcessCollectorResource(collector_id=pipeline.server.collector_id)
            pipeline.definitions = build_definitions(faulty, collector=collector)
        yield pipeline


def build(pipeline: Pipeline, *jobs: str) -> None:
    for job in jobs or ("raw_job", "clean_job", "report_job"):
        result = pipeline.run(job, FIRST, LAST)
        assert result.success, failure_message(result)


def snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Every lake object by content (Parquet rows in a fixed order) and every report row."""
    settings = pipeline.settings
    store = settings.store
    lake: dict[str, Any] = {}
    with duckdb_connection(threads=1) as connection:
        for area in LAKE_AREAS:
            for info in store.list(area):
                data = store.get(info.key)
                if info.key.endswith(".parquet"):
                    local = Path(settings.home) / "snapshot.parquet"
                    local.write_bytes(data)
                    # Less raw's `landed_file`: it names the collector's segment, which each delivery opens anew.
                    lake[info.key] = connection.execute(
                        f"SELECT COLUMNS(lambda c: c <> 'landed_file') FROM {parquet(str(local))} ORDER BY ALL"
                    ).fetchall()
                else:
                    lake[info.key] = json.loads(data)
    return {"lake": lake, "reports": pipeline.report_rows()}


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, restartable_postgres: PostgresServer
) -> dict[str, Any]:
    """What the lake and the report tables hold when no fault strikes."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings, _ = environment(monkeypatch, tmp_path_factory.mktemp("reference"), s3_server, restartable_postgres)
        with pipeline_through(settings, None) as pipeline:
            deliver(pipeline)
            build(pipeline)
            state = snapshot(pipeline)
    assert state["reports"]["daily_active_users"] and state["lake"]
    return state


@pytest.fixture
def faulty(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_server: S3Server,
    restartable_postgres: PostgresServer,
    faulty_s3: FaultyProxy,
) -> Iterator[tuple[Pipeline, str]]:
    """A pipeline whose lake goes through the fault proxy, with the traffic delivered; and its database's name.

    Quick retries, or those given as the fixture's parameter.
    """
    retries = getattr(request, "param", QUICK_RETRIES)
    settings, database = environment(monkeypatch, tmp_path, s3_server, restartable_postgres, retries)
    with pipeline_through(settings, faulty_s3) as pipeline:
        deliver(pipeline)
        yield pipeline, database


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [event.step_failure_data for event in result.get_step_failure_events()]
    return "\n".join(
        (data.user_failure_data.description if data.user_failure_data else None) or data.error.to_string()
        for data in failures
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def warnings(pipeline: Pipeline, result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        record.user_message
        for record in pipeline.instance.all_logs(result.run_id)
        if record.level == "WARNING" or record.level == 30
    ]


def check_status(pipeline: Pipeline, asset: str, check: str) -> str:
    """The status of an asset check as the Dagster UI resolves it for both days (a check of a failed run:
    EXECUTION_FAILED); the days must agree."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    statuses = set()
    for day in (FIRST, LAST):
        (record,) = pipeline.instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1, partition_filter=PartitionKeyFilter(key=day)
        )
        if record.status != AssetCheckExecutionRecordStatus.PLANNED:
            statuses.add(record.status.value)
            continue
        run = pipeline.instance.get_run_by_id(record.run_id)
        assert run is not None and run.is_finished
        statuses.add("EXECUTION_FAILED" if run.status == dg.DagsterRunStatus.FAILURE else "SKIPPED")
    (status,) = statuses
    return status


def key_request(path: str) -> bytes:
    """The request line's path of a lake object, as the S3 client sends it (path-style, `=` escaped)."""
    return quote(f"/lake/{path}", safe="/").encode()


def in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def test_s3_refusing_between_the_raw_days_objects_fails_the_run_and_nothing_downstream_reads_the_day(
    faulty: tuple[Pipeline, str], faulty_s3: FaultyProxy, reference: dict[str, Any]
) -> None:
    pipeline, _ = faulty
    # The raw Parquet of the 17th lands, then S3 refuses its identity links and everything after.
    faulty_s3.trip_on(key_request("identity_links/received_date=2026-11-17"))
    failed = pipeline.run("raw_job", FIRST, LAST)

    assert not failed.success and faulty_s3.tripped.is_set()
    message = failure_message(failed)
    assert "building raw_events of 2026-11-17 in s3://" in message
    assert f"gave up after {QUICK_RETRIES['retries'] + 1} attempts" in message and "NETWORK_CONNECTION" in message
    assert "raw_events" not in materialized(failed)
    assert not failed.get_asset_check_evaluations()
    assert check_status(pipeline, "raw_events", "reconciled_with_collector") == "EXECUTION_FAILED"

    # S3 is back, but the 17th holds a raw Parquet without its links or profile: cleaning must not read it.
    faulty_s3.set_mode("pass")
    store = pipeline.settings.store
    assert store.exists("raw_events/received_date=2026-11-17/events.parquet")
    downstream = pipeline.run("clean_job", FIRST, LAST)
    assert not downstream.success
    refusal = failure_message(downstream)
    assert "raw_events (the raw Parquet, its identity links and its profile) of 2026-11-17 is incomplete" in refusal
    assert "raw_events is materialized for 2026-11-17 again" in refusal
    assert not materialized(downstream)

    build(pipeline)
    assert snapshot(pipeline) == reference
    assert check_status(pipeline, "raw_events", "reconciled_with_collector") == "SUCCEEDED"
    assert check_status(pipeline, "events", "reconciled_with_raw") == "SUCCEEDED"
    repaired = [pipeline.metadata("raw_events", day)["dagster/row_count"] for day in (FIRST, LAST)]
    assert sum(repaired) == 9 and all(repaired)


def test_s3_refusing_while_cleaning_fails_the_run_and_the_half_written_day_is_refused_downstream(
    faulty: tuple[Pipeline, str], faulty_s3: FaultyProxy, reference: dict[str, Any]
) -> None:
    pipeline, _ = faulty
    build(pipeline, "raw_job")
    # The 17th is committed and the events of the 18th land; S3 refuses their quarantine.
    faulty_s3.trip_on(key_request("events_quarantine/event_date=2026-11-18"))
    failed = pipeline.run("clean_job", FIRST, LAST)

    assert not failed.success
    message = failure_message(failed)
    assert "building events of 2026-11-17" in message and "in s3://" in message
    assert f"gave up after {QUICK_RETRIES['retries'] + 1} attempts" in message
    assert not materialized(failed) & {"events", "events_quarantine", "sessions", "daily_aggregates"}

    faulty_s3.set_mode("pass")
    sessions_only = pipeline.definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=pipeline.instance,
        asset_selection=[dg.AssetKey("sessionized_events"), dg.AssetKey("sessions")],
        partition_key=LAST,
        raise_on_error=False,
    )
    assert not sessions_only.success
    assert "events and events_quarantine of 2026-11-18 is incomplete" in failure_message(sessions_only)

    build(pipeline, "clean_job", "report_job")
    assert snapshot(pipeline) == reference


@pytest.mark.parametrize("faulty", [PATIENT_RETRIES], indirect=True, ids=["patient_retries"])
def test_brief_s3_refusals_and_a_postgresql_restart_during_the_load_are_retried_and_change_nothing(
    faulty: tuple[Pipeline, str],
    faulty_s3: FaultyProxy,
    restartable_postgres: PostgresServer,
    reference: dict[str, Any],
) -> None:
    pipeline, database = faulty
    faulty_s3.trip_on(key_request("identity_links/received_date=2026-11-18"), heal_after=4)
    raw = pipeline.run("raw_job", FIRST, LAST)
    assert raw.success, failure_message(raw)
    assert faulty_s3.tripped.is_set() and faulty_s3.mode == "pass"
    assert any("building raw_events of 2026-11-18" in text and "retrying" in text for text in warnings(pipeline, raw))

    faulty_s3.trip_on(key_request("events/event_date=2026-11-17"), heal_after=4)
    clean = pipeline.run("clean_job", FIRST, LAST)
    assert clean.success, failure_message(clean)
    assert any("building events of" in text and "retrying" in text for text in warnings(pipeline, clean))

    engine = create_engine(pipeline.settings.report_db_url)
    ensure_tables(engine)
    engine.dispose()
    stall_first_insert(restartable_postgres.conninfo(database), schema.events_daily.name)

    def restart_during_the_load() -> None:
        wait_for_stall(restartable_postgres.conninfo(database))
        restartable_postgres.restart("fast")

    restarter = in_background(restart_during_the_load)
    report = pipeline.run("report_job", FIRST, LAST)
    restarter.join(60)
    assert report.success, failure_message(report)
    assert not restarter.is_alive()

    assert snapshot(pipeline) == reference


def test_postgresql_stopped_during_the_load_fails_the_run_and_keeps_every_day_whole(
    faulty: tuple[Pipeline, str],
    restartable_postgres: PostgresServer,
    reference: dict[str, Any],
) -> None:
    pipeline, database = faulty
    build(pipeline)
    stall_first_insert(restartable_postgres.conninfo(database), schema.events_daily.name)

    def stop_during_the_load() -> None:
        wait_for_stall(restartable_postgres.conninfo(database))
        restartable_postgres.stop("fast")

    stopper = in_background(stop_during_the_load)
    try:
        failed = pipeline.run("report_job", FIRST, LAST)
        stopper.join(60)
    finally:
        restartable_postgres.start()

    assert not failed.success
    message = failure_message(failed)
    assert "replacing the rows of events_daily for 2026-11-17, 2026-11-18 in postgresql+psycopg://" in message
    assert f"gave up after {QUICK_RETRIES['retries'] + 1} attempts" in message and "holds its previous rows" in message
    # The tables loaded before the fault were materialized; events_daily was not, and still holds whole days.
    assert {"daily_active_users", "sessions_daily"} <= materialized(failed)
    assert "events_daily" not in materialized(failed)
    assert check_status(pipeline, "events_daily", "loaded_rows_match_lake") == "EXECUTION_FAILED"
    assert check_status(pipeline, "sessions_daily", "loaded_rows_match_lake") == "SUCCEEDED"
    assert pipeline.report_rows() == reference["reports"]

    build(pipeline, "report_job")
    assert snapshot(pipeline) == reference
    assert check_status(pipeline, "events_daily", "loaded_rows_match_lake") == "SUCCEEDED"
