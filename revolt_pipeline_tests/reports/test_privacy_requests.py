"""`revolt privacy delete` and `revolt privacy requests`: a request recorded in the report database's audit, the
ids as pseudonyms, and clear answers when the request cannot be recorded or would keep the person in the audit."""

import dataclasses
import functools
import json
import socket
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from revolt_pipeline.cli import main
from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.layers.deletion import requests_to_carry_out
from revolt_pipeline.layers.privacy import blank_ids_in_json, export_person
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import (
    blank_json_mentions,
    create_engine,
    delete_rows_naming,
    ensure_tables,
    json_mentioning,
    privacy_requests,
    read_rows,
    replace_partitions,
    rows_naming,
)
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection


def audit(home: Path) -> list[dict[str, Any]]:
    engine = create_engine(f"sqlite:///{home / 'reports.sqlite'}")
    try:
        return privacy_requests(engine)
    finally:
        engine.dispose()


def run(home: Path, *arguments: str, **environment: str) -> Result:
    env = {"REVOLT_HOME": str(home), "REVOLT_REPORT_DB_URL": f"sqlite:///{home / 'reports.sqlite'}", **environment}
    return CliRunner().invoke(main, ["privacy", *arguments], env=env)


def test_a_request_for_an_id_nothing_holds_is_recorded_pending_with_pseudonyms(tmp_path: Path) -> None:
    result = run(tmp_path, "delete", "--user-id", "u-1", "--anonymous-id", "a-1", "--reason", "ticket 9")
    assert result.exit_code == 0, result.output
    request_id = result.output.split()[2]
    assert "revolt privacy requests" in result.output and "privacy_job" in result.output

    engine = create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        [row] = privacy_requests(engine)
        assert requests_to_carry_out(engine) == [(request_id, 0)]
    finally:
        engine.dispose()
    salt = (tmp_path / "privacy-salt").read_text().strip()  # generated once in the home, as the collector reads it
    assert (row["request_id"], row["kind"], row["status"], row["attempts"], row["reason"]) == (
        request_id,
        "delete",
        "pending",
        0,
        "ticket 9",
    )
    assert json.loads(row["requested_ids"]) == [
        {"user_id": pseudonym(salt, "u-1")},
        {"anonymous_id": pseudonym(salt, "a-1")},
    ]
    assert json.loads(row["pending_ids"]) == ["u-1", "a-1"]  # in clear until the request is done

    listed = run(tmp_path, "requests")
    assert listed.exit_code == 0 and f"{request_id} delete pending" in listed.output, listed.output


def test_nothing_is_recorded_when_the_report_database_is_down(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/reports"
    result = run(tmp_path, "delete", "--user-id", "u-1", REVOLT_REPORT_DB_URL=url)
    assert result.exit_code == 1
    assert "nothing was recorded" in result.output and "REVOLT_REPORT_DB_URL" in result.output
    assert f"127.0.0.1:{port}" in result.output


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        ([], "--user-id ID or --anonymous-id ID"),
        (["--user-id", " "], "--user-id ID or --anonymous-id ID"),
        (["--user-id", "jo@example.com", "--reason", "jo@example.com asked by mail"], "--reason names the person"),
        (["--anonymous-id", "a-9", "--requested-by", "a-9"], "--requested-by names the person"),
    ],
)
def test_a_request_that_names_no_one_or_would_keep_the_person_in_the_audit_is_refused(
    tmp_path: Path, arguments: list[str], refusal: str
) -> None:
    result = run(tmp_path, "delete", *arguments)
    assert result.exit_code == 2 and refusal in result.output, result.output
    assert not (tmp_path / "reports.sqlite").exists()


def test_the_report_rows_naming_a_person_are_deleted_in_every_table_and_no_one_elses(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        ensure_tables(engine)
        day = date(2026, 11, 20)
        start = datetime(2026, 11, 20, 9, tzinfo=UTC)
        session = {
            "session_date": day,
            "person_id": "ada",
            "session_start": start,
            "session_end": start,
            "duration_seconds": 0.0,
            "events": 1,
            "platform": "web",
            "app_version": "1.0",
            "os_name": None,
            "entry_event": "Timer Started",
            "exit_event": "Timer Started",
        }
        rows = [session | {"session_id": "s1"}, session | {"session_id": "s2", "person_id": "bob"}]
        replace_partitions(engine, schema.person_sessions, [day], pa.Table.from_pylist(rows))
        assert delete_rows_naming(engine, ["ada", "anon-ada"]) == {"person_sessions": 1}
        assert rows_naming(engine, ["ada"]) == {}
        assert [row["person_id"] for row in read_rows(engine, schema.person_sessions)] == ["bob"]
        assert delete_rows_naming(engine, ["ada"]) == {}  # again: nothing more
    finally:
        engine.dispose()


def test_privacy_job_runs_for_a_request_alone_once_no_other_run_is_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"REVOLT_HOME": str(tmp_path), "REVOLT_PIPELINE_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    definitions = build_definitions(settings)
    sensor = definitions.resolve_sensor_def("privacy_after_request")

    def tick(instance: dg.DagsterInstance, **overrides: str) -> Any:
        resources = build_resources(dataclasses.replace(settings, **overrides))
        return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))

    with dg.DagsterInstance.ephemeral() as instance:
        assert tick(instance).skip_message == "no deletion request to carry out"
        assert run(tmp_path, "delete", "--user-id", "u-1").exit_code == 0
        queued = instance.create_run_for_job(
            definitions.resolve_job_def("clean_job"), tags={"dagster/partition": "2026-11-20"}
        )
        waiting = tick(instance)
        assert not waiting.run_requests and queued.run_id in (waiting.skip_message or "")
        instance.report_run_canceled(queued)
        [request] = tick(instance).run_requests
        assert request.job_name == "privacy_job"

        # A second run launched by hand while one goes changes nothing.
        privacy_job = definitions.resolve_job_def("privacy_job")
        going = instance.create_run_for_job(privacy_job)
        refused = privacy_job.execute_in_process(instance=instance, raise_on_error=False)
        [failure] = [event for event in refused.all_events if event.is_step_failure]
        assert going.run_id in str(failure.step_failure_data.error)
        assert [row["status"] for row in audit(tmp_path)] == ["pending"]
        # Nor does the cascade launch anything while a deletion rewrites the layers.
        context = dg.build_sensor_context(instance=instance, cursor="0", definitions=definitions)
        cascading = definitions.resolve_sensor_def("clean_after_raw").evaluate_tick(context)
        assert not cascading.run_requests and going.run_id in (cascading.skip_message or "")
        instance.report_run_canceled(going)

        down = "postgresql+psycopg://postgres@127.0.0.1:1/reports"
        skipped = tick(instance, report_db_url=down)
        assert not skipped.run_requests and "cannot read the deletion requests" in (skipped.skip_message or "")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_others_traits_naming_a_deleted_person_are_blanked_and_the_rest_of_their_rows_kept(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Another person's trait may hold the person's id (who invited them): that row is theirs, so it stays, with the
    id blanked as the lake's rows are (`redact_json`: the value null, a member keyed by the id cut out)."""
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    day = date(2026, 11, 20)
    # Every row with the same columns: one INSERT takes the first row's.
    person = {"identified": True, "first_seen": day, "last_seen": day, "sessions": 1, "events": 2, "days_active": 1}
    person |= {"plan": None}
    rows = [
        {**person, "person_id": "ada", "user_id": "ada", "traits": '{"plan": "pro"}', "snapshot_date": day},
        {
            **person,
            "person_id": "bo",
            "user_id": "bo",
            "plan": "free",
            "traits": '{"plan": "free", "invitedBy": "ada", "ada": {"since": 2024}, "note": "ada wrote"}',
            "snapshot_date": day,
        },
        {**person, "person_id": "cy", "user_id": "cy", "traits": '{"invitedBy": "adam"}', "snapshot_date": day},
    ]
    try:
        ensure_tables(engine)
        with engine.begin() as connection:
            connection.execute(sa.insert(schema.people), rows)

        assert [row["person_id"] for row in json_mentioning(engine, ["ada"])["people"]] == ["bo"]
        (tmp_path / "store").mkdir()
        with duckdb_connection() as connection:
            exported = export_person(ObjectStore((tmp_path / "store").as_uri()), connection, engine, ["ada"])
        assert [row["person_id"] for row in exported.report_tables["people"]] == ["ada"]
        mentions = sorted(exported.report_mentions["people"], key=lambda mention: mention["path"])
        assert mentions == [  # PostgreSQL's jsonb orders keys its own way
            {"row": {"person_id": "bo"}, "column": "traits", "path": path, "id": "ada"}
            for path in ("$.ada(key)", "$.invitedBy")
        ], "of bo's row, only where it names ada"
        assert list(exported.report_mentions) == ["people"]
        blank = functools.partial(blank_ids_in_json, ids={"ada"})
        assert blank_json_mentions(engine, ["ada"], blank) == {"people": 1}
        assert blank_json_mentions(engine, ["ada"], blank) == {}, "a blanked row names no one"
        assert json_mentioning(engine, ["ada"]) == {}

        with engine.connect() as connection:
            after = {row.person_id: row._asdict() for row in connection.execute(sa.select(schema.people))}
        assert after["bo"]["traits"] == {"plan": "free", "invitedBy": None, "note": "ada wrote"}
        assert {name: after["bo"][name] for name in rows[1] if name != "traits"} == {
            name: value for name, value in rows[1].items() if name != "traits"
        }
        assert after["ada"]["traits"] == {"plan": "pro"} and after["cy"]["traits"] == {"invitedBy": "adam"}
    finally:
        engine.dispose()
