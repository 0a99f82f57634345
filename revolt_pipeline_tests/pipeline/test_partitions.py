"""Every partition shows its own figures and its own checks, also after a run over a range of days."""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.cascade import tagged_days
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    LANDING,
    aggregate_key,
    events_key,
    raw_events_key,
    received_date_prefix,
    sessions_key,
)
from revolt_pipeline.transforms.aggregates import AGGREGATES, DIMENSION_GRAINS
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, running_pipeline, track


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, at(10)) as running:
        yield running


def rows_in_lake(pipeline: Pipeline, key: str) -> int:
    store = ObjectStore(pipeline.settings.storage_url)
    with duckdb_connection(threads=1) as connection:
        return connection.execute(f"SELECT count(*) FROM read_parquet({sql_string(store.path(key))})").fetchone()[0]


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str, str | None], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_each_partition_of_a_range_run_shows_its_own_rows_and_checks(pipeline: Pipeline) -> None:
    # Three events received on the 18th, one on the 19th: one raw run over both days.
    pipeline.send(at(18), [track(f"a{n}", f"user-{n}", at(18) + timedelta(minutes=n)) for n in range(3)])
    pipeline.send(at(19), [track("b1", "user-9", at(19))])
    pipeline.complete(date(2026, 11, 19))
    raw = pipeline.run("raw_job", "2026-11-18", "2026-11-19")
    assert raw.success
    cleaned = pipeline.run("clean_job", "2026-11-17", "2026-11-20")
    reports = pipeline.run("report_job", "2026-11-17", "2026-11-20")
    catalog = pipeline.run("catalog_job", "2026-11-18", "2026-11-19")
    assert cleaned.success and reports.success and catalog.success

    for day, rows in (("2026-11-18", 3), ("2026-11-19", 1)):
        metadata = pipeline.metadata("raw_events", day)
        assert metadata["dagster/row_count"] == rows == rows_in_lake(pipeline, raw_events_key(date.fromisoformat(day)))
        assert metadata["event_dates"] == [day]
    for day, rows in (("2026-11-17", 0), ("2026-11-18", 3), ("2026-11-19", 1), ("2026-11-20", 0)):
        key = date.fromisoformat(day)
        assert pipeline.metadata("events", day)["dagster/row_count"] == rows == rows_in_lake(pipeline, events_key(key))
        assert pipeline.metadata("sessionized_events", day)["dagster/row_count"] == rows
        sessions = pipeline.metadata("sessions", day)["dagster/row_count"]
        assert sessions == rows == rows_in_lake(pipeline, sessions_key(key))  # one event, one session, per user
        assert pipeline.metadata("events_quarantine", day)["dagster/row_count"] == 0
    database = pipeline.report_rows()
    loaded = {
        table.name: Counter(row[table.columns[0].name].isoformat() for row in database[table.name])
        for table in schema.AGGREGATE_TABLES.values()
    }
    for table, per_day in loaded.items():
        for day in ("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"):
            assert pipeline.metadata(table, day)["dagster/row_count"] == per_day[day], (table, day)
    # daily_aggregates: a day's rows of every aggregate table, each as its own figure, as in the lake and
    # as loaded into the report database; not the run's.
    for day in ("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"):
        in_lake = {name: rows_in_lake(pipeline, aggregate_key(name, date.fromisoformat(day))) for name in AGGREGATES}
        metadata = pipeline.metadata("daily_aggregates", day)
        assert {name: metadata[f"rows/{name}"] for name in AGGREGATES} == in_lake, day
        assert metadata["dagster/row_count"] == sum(in_lake.values()), day
        assert {table: in_lake[table] for table in loaded} == {table: loaded[table][day] for table in loaded}, day
    # One row in each of the 12 tables of one row per group (the day, web, web 4.2), every duration bucket of
    # each group in the three histograms, one step in each of the three path_steps (three single-event
    # sessions: no transition), and one row in each of the events' device breakdowns (one OS, one country, ...
    # that day): not the whole run's.
    rows = 12 + 3 * 8 + 3 + len(DIMENSION_GRAINS)
    assert pipeline.metadata("daily_aggregates", "2026-11-18")["dagster/row_count"] == rows
    # The day's total: not the run's 4 rows, nor web's and web 4.2's.
    assert pipeline.metadata("daily_active_users", "2026-11-18")["dagster/row_count"] == 1

    # Every check of every day of each run has its own evaluation, for its partition.
    raw_checks = check_evaluations(raw)
    assert set(raw_checks) == {
        ("raw_events", check, day)
        for check in ("reconciled_with_collector", "required_columns_not_null", "no_schema_drift", "no_unhashed_pii")
        for day in ("2026-11-18", "2026-11-19")
    }
    assert all(raw_checks.values())
    cleaned_days = {partition for (_, _, partition) in check_evaluations(cleaned)}
    assert cleaned_days == {"2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"}
    assert {(asset, partition) for (asset, _, partition) in check_evaluations(reports)} == {
        (table, day)
        for table in schema.AGGREGATE_TABLES
        for day in ("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20")
    }


def test_a_failing_day_fails_its_own_partitions_check_only(pipeline: Pipeline) -> None:
    pipeline.send(at(18), [track("a1", "ada", at(18))])
    pipeline.send(at(19), [track("b1", "bob", at(19)), track("b2", "cyd", at(19))])
    pipeline.complete(date(2026, 11, 19))
    # A landed object of the 19th is lost behind the collector's back: the collector acknowledged more.
    store = ObjectStore(pipeline.settings.storage_url)
    (lost, *_) = [info.key for info in store.list(received_date_prefix(LANDING, date(2026, 11, 19)))]
    store.delete(lost)
    raw = pipeline.run("raw_job", "2026-11-18", "2026-11-19")
    assert raw.success
    reconciled = {
        partition: passed
        for (_, check, partition), passed in check_evaluations(raw).items()
        if check == "reconciled_with_collector"
    }
    assert reconciled == {"2026-11-18": True, "2026-11-19": False}
    failed = next(
        e for e in raw.get_asset_check_evaluations() if e.check_name == "reconciled_with_collector" and not e.passed
    )
    assert failed.metadata["acknowledged"].value == 2 and failed.metadata["rows"].value == 0
    assert failed.description == "the collector acknowledged 2 events, raw holds 0"


def test_changing_the_lateness_changes_the_lineage_and_the_rebuilt_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_environment(monkeypatch, tmp_path, REVOLT_LATENESS_DAYS="5")
    with running_pipeline(settings, at(10)) as pipeline:
        events = pipeline.definitions.resolve_assets_def("events")
        mapping = events.get_partition_mapping(dg.AssetKey("raw_events"))
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        assert (mapping.start_offset, mapping.end_offset) == (-1, 5)  # the day before, and five days of lateness
        sessions = pipeline.definitions.resolve_assets_def("sessions")
        mapping = sessions.get_partition_mapping(dg.AssetKey("events"))
        assert (mapping.start_offset, mapping.end_offset) == (-1, 1)

        # Five days late is on time now: the event's own day is rebuilt, not quarantined as too late.
        late = at(23)
        pipeline.send(late, [track("l1", "ada", at(18))], sent_at=late)
        pipeline.complete(date(2026, 11, 23))
        assert pipeline.run("raw_job", "2026-11-23").success
        assert pipeline.metadata("raw_events", "2026-11-23")["event_dates"] == ["2026-11-18"]
        runs = pipeline.follow_cascade()
        # The late event's day with the sessions around it; the received day's own, alone, so that it
        # is built (empty) rather than shown missing.
        assert [(r.job_name, tagged_days(r.tags)) for r, _ in runs if r.job_name == "clean_job"] == [
            ("clean_job", ("2026-11-17", "2026-11-19")),
            ("clean_job", ("2026-11-23", "2026-11-23")),
        ]
        assert pipeline.dau("2026-11-18") == 1


def drift_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {
        e.partition: (e.passed, e.severity, e.metadata["problems"].value)
        for e in result.get_asset_check_evaluations()
        if e.check_name == "no_schema_drift"
    }


def test_schema_drift_flags_what_an_analyst_must_act_on_and_nothing_healthy(pipeline: Pipeline) -> None:
    """Healthy variation passes: a whole number sent with decimals, an optional trait absent on a quiet day.
    A property sent as another kind of value, or gone from an event still sent in volume, is flagged."""
    for day in range(10, 18):  # a week of history
        moment = at(day)
        messages = [
            track(
                f"t{day}-{n}",
                f"user-{n}",
                moment + timedelta(minutes=n),
                event="Entry Saved",
                properties={"project": "apollo", "minutes": 30 + n, "billable": True},
            )
            for n in range(20)
        ]
        if day % 3 == 0:  # the optional trait: only when someone signs up
            messages.append(
                {
                    "type": "identify",
                    "messageId": f"i{day}",
                    "userId": "user-1",
                    "traits": {"plan": "team", "signed_up": True},
                }
            )
        messages.append({"type": "identify", "messageId": f"j{day}", "userId": "user-2", "traits": {"plan": "free"}})
        pipeline.send(moment, messages)
    healthy = at(18)
    pipeline.send(
        healthy,
        [
            track(
                f"h{n}",
                f"user-{n}",
                healthy + timedelta(minutes=n),
                event="Entry Saved",
                properties={"project": "apollo", "minutes": 30.5 + n, "billable": False},
            )
            for n in range(20)
        ]
        + [{"type": "identify", "messageId": "k18", "userId": "user-2", "traits": {"plan": "free"}}],
    )
    drifting = at(19)
    pipeline.send(
        drifting,
        [
            track(
                f"d{n}",
                f"user-{n}",
                drifting + timedelta(minutes=n),
                event="Entry Saved",
                properties={"project": 17, "minutes": 30 + n},
            )  # project as a number; billable gone
            for n in range(20)
        ],
    )
    pipeline.complete(date(2026, 11, 19))
    result = pipeline.run("raw_job", "2026-11-10", "2026-11-19")
    assert result.success
    drift = drift_of(result)
    assert all(passed for day, (passed, _, _) in drift.items() if day != "2026-11-19"), drift
    passed, severity, problems = drift["2026-11-19"]
    assert not passed and severity == dg.AssetCheckSeverity.WARN
    assert problems == [
        "retyped track:Entry Saved.project: sent as number, before only as string",
        "vanished track:Entry Saved.billable: carried by 140 of 140 events before, by none of today's 20",
    ]
    assert pipeline.metadata("raw_events", "2026-11-19")["schema_drift"] == problems
    assert pipeline.metadata("raw_events", "2026-11-18")["schema_drift"] == []


def test_values_that_look_personal_under_a_key_cleaning_keeps_warn(pipeline: Pipeline) -> None:
    """The PII scanner on raw_events: emails under `contact` (kept as sent by cleaning) warn; under `email` (hashed
    by default) they are counted and do not."""
    moment = at(18)
    pipeline.send(
        moment,
        [
            track(
                f"p{n}",
                f"user-{n}",
                moment + timedelta(minutes=n),
                event="Invite Sent",
                properties={"contact": f"friend{n}@example.com", "email": f"user{n}@example.com", "version": "1.2.3"},
            )
            for n in range(5)
        ],
    )
    pipeline.complete(date(2026, 11, 18))
    result = pipeline.run("raw_job", "2026-11-18", "2026-11-18")
    assert result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_unhashed_pii"]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert check.metadata["problems"].value == [
        "track:Invite Sent properties.contact: 5 of 5 values look like emails, and cleaning keeps them "
        "(REVOLT_PII_HASH_KEYS, REVOLT_PII_DROP_KEYS)"
    ]
    found = pipeline.metadata("raw_events", "2026-11-18")["likely_pii"]
    assert found == {"track:Invite Sent": {"contact": {"email": 5}, "email": {"email": 5}}}
