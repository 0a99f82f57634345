"""Acceptance: the README's production path, from a clean state, with real processes only.

A throwaway PostgreSQL cluster gets its roles and databases from deploy/production/databases.sql, run
with psql as the README says; DAGSTER_HOME is a folder of its own holding deploy/production/dagster.yaml;
the report tables live in PostgreSQL too. A collector process on a simulated clock holds a past day's
events. `dagster job launch` queues the raw job for that day, and `dagster-daemon` runs it and the
cascade: sensors that follow the assets' materializations launch clean_job over the event days the raw
day touched (a late event reopens an older day) and catalog_job over the raw day, then report_job over
the cleaned days. Then `revolt launch` backfills the report tables over a range of days, one run per job. BI
tools read the tables, the event catalog among them, with a role that cannot change them; the checkout
is left as it was (no Dagster home in it, not even one git ignores), and the daemon's log holds no
warnings.
"""

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest

from revolt_pipeline.contract import parse_timestamp
from revolt_pipeline.defs.cascade import CASCADE_ORDER, tagged_days
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline_tests.deployment.processes import (
    BIN,
    REPOSITORY,
    checkout_state,
    clean_environment,
    process_group,
    tail,
)
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess
from revolt_pipeline_tests.fixtures.postgres import PostgresServer

PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
SENSOR_NAME_TAG = "dagster/sensor_name"

DAY = "2026-11-18"
NEXT_DAY = "2026-11-19"
LATE_DAY = "2026-11-16"  # the late event's corrected day: two days before DAY
PARTITIONS_START = "2026-11-10"
# The touched days (LATE_DAY and DAY), one day more on each side.
EXPECTED_RANGE = ("2026-11-15", "2026-11-19")
SENSORS = CASCADE_ORDER
JOBS = ("raw_job", "clean_job", "catalog_job", "report_job")
# What each job's run is launched by, and the days it covers.
CASCADED = {
    "clean_job": ("clean_after_raw", EXPECTED_RANGE),
    "catalog_job": ("catalog_after_raw", (DAY, DAY)),
    "report_job": ("reports_after_clean", EXPECTED_RANGE),
}
# The passwords the README's psql command gives the roles (the throwaway cluster trusts every local login).
PASSWORDS = {"dagster": "dagster-secret", "reports": "reports-secret", "bi": "bi-secret"}

DAEMON_READY_TIMEOUT_S = 120  # the daemon starts a code server before the sensors' first tick
LAUNCH_TIMEOUT_S = 120
CASCADE_TIMEOUT_S = 240
BACKFILL_TIMEOUT_S = 240
POLL_S = 2.0

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _track(user: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "userId": user, "messageId": f"{user}-{uuid.uuid4().hex}", **fields}


def _send_day(collector: CollectorProcess) -> None:
    """A few batches received on DAY, one holding an event that happened two days earlier, then midnight."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=collector.url, timeout=30) as http:

        def batch(key: str, messages: list[dict[str, Any]], **extra: Any) -> None:
            response = http.post("/v1/batch", json={"batch": messages, **extra}, auth=(key, ""))
            assert response.status_code == 200, response.text

        def clock(moment: str) -> None:
            response = http.post("/admin/clock", json={"now": moment}, headers=admin)
            assert response.status_code == 200, response.text

        batch(
            SOURCES["web"][1],
            [
                {"type": "identify", "userId": "user-1", "traits": {"plan": "team"}, "messageId": "web-identify-1"},
                _track("user-1", "Timer Started", properties={"project": "apollo"}),
                _track("user-2", "Timer Started", properties={"project": "gemini"}),
                {"type": "page", "anonymousId": "anon-1", "name": "Pricing", "messageId": "web-page-1"},
            ],
        )
        clock(f"{DAY}T11:00:00Z")
        # Kept offline on the device for two days, sent now from a correct clock: sentAt matches the
        # receipt, so the corrected time is the original one, two days before the received day.
        late = _track(
            "user-3", "Timer Stopped", originalTimestamp=f"{LATE_DAY}T10:00:00Z", properties={"project": "apollo"}
        )
        batch(
            SOURCES["ios"][1],
            [_track("user-3", "Timer Started", properties={"project": "apollo"}), late],
            sentAt=f"{DAY}T11:00:00Z",
        )
        clock(f"{DAY}T15:30:00Z")
        batch(SOURCES["web"][1], [_track("user-1", "Timer Stopped", properties={"project": "apollo"})])

        # Past the end of the day, and everything landed: the collector's watermark passes midnight.
        clock(f"{NEXT_DAY}T00:05:00Z")
        flushed = http.post("/admin/flush", headers=admin)
        assert flushed.status_code == 200, flushed.text
        watermark = parse_timestamp(flushed.json()["watermark"])
        assert watermark is not None
        assert watermark >= datetime.fromisoformat(f"{NEXT_DAY}T00:00:00+00:00"), flushed.json()


def _sensor_states(instance: dg.DagsterInstance) -> dict[str, Any]:
    """Our sensors' stored states (Dagster's InstigatorState, read through the instance's public methods)."""
    states = [state for state in instance.all_instigator_state() if state.instigator_type.value == "SENSOR"]
    return {state.instigator_name: state for state in states if state.instigator_name in SENSORS}


def _sensor_cursor(state: Any) -> str | None:
    data = state.sensor_instigator_data if state is not None else None
    return data.cursor if data is not None else None


def _run_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """A failed run's failure events and errors, from its event log."""
    errors = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if event is not None and (event.is_failure or error is not None):
            errors.append(f"{event.event_type_value} {event.step_key or ''}: {event.message or ''}")
            if error is not None:
                errors.append(error.to_string())
    return errors


@dataclass
class Deployment:
    """The instance as the test process sees it, and the daemon serving it."""

    instance: dg.DagsterInstance
    daemon: subprocess.Popen[bytes]
    daemon_log: Path

    def diagnostics(self, headline: str) -> str:
        lines = [headline, "", "runs:"]
        for run in reversed(self.instance.get_runs()):
            lines.append(f"  {run.job_name} {run.run_id} {run.status.value} tags={dict(run.tags)}")
            if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                errors = _run_errors(self.instance, run.run_id)
                lines += [f"    {line}" for error in errors for line in error.splitlines()]
        lines.append("sensor ticks (newest first):")
        for name, state in sorted(_sensor_states(self.instance).items()):
            for tick in self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5):
                error = tick.error.to_string() if tick.error is not None else ""
                lines.append(
                    f"  {name} {datetime.fromtimestamp(tick.timestamp, UTC).isoformat()} {tick.status.value} "
                    f"runs={list(tick.run_ids)} skip={tick.skip_reason!r} {error}"
                )
        lines += ["", f"dagster-daemon log tail ({self.daemon_log}):", tail(self.daemon_log)]
        return "\n".join(lines)

    def wait(self, timeout: float, what: str, done: Callable[[dg.DagsterInstance], Any]) -> Any:
        """Poll `done` until it returns something truthy; fail with diagnostics on a timeout, on a
        failed run, or if the daemon dies."""
        deadline = time.monotonic() + timeout
        while True:
            result = done(self.instance)
            if result:
                return result
            if any(run.status in FINISHED - {dg.DagsterRunStatus.SUCCESS} for run in self.instance.get_runs()):
                pytest.fail(self.diagnostics(f"a run failed while waiting for {what}"), pytrace=False)
            if self.daemon.poll() is not None:
                headline = f"dagster-daemon exited ({self.daemon.returncode}) before {what}"
                pytest.fail(self.diagnostics(headline), pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(self.diagnostics(f"timed out after {timeout:.0f} s waiting for {what}"), pytrace=False)
            time.sleep(POLL_S)


def _test_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """The runs of the test's days. The daily schedule is on, as the README leaves it: at 00:15 UTC it starts
    raw_job for yesterday, and the cascade follows it, over days long after the test's; those runs are not the
    launch's."""
    return [
        run
        for run in instance.get_runs()
        if "dagster/schedule_name" not in run.tags
        and ((days := tagged_days(run.tags)) is None or days[1] <= EXPECTED_RANGE[1])
    ]


def _succeeded(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun | None:
    runs = [run for run in _test_runs(instance) if run.job_name == job_name]
    return next((run for run in runs if run.status == dg.DagsterRunStatus.SUCCESS), None)


def _create_roles_and_databases(server: PostgresServer) -> None:
    """deploy/production/databases.sql, run with psql as a superuser, as the README says."""
    command = [
        str(server.bindir / "psql"), "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", "postgres",
        *[arg for role, password in PASSWORDS.items() for arg in ("-v", f"{role}_password={password}")],
        "-f", "deploy/production/databases.sql",
    ]  # fmt: skip
    created = subprocess.run(command, cwd=REPOSITORY, env=clean_environment(), capture_output=True, text=True)
    assert created.returncode == 0, created.stdout + created.stderr


def _url(server: PostgresServer, role: str, database: str = "reports") -> str:
    return f"postgresql+psycopg://{role}:{PASSWORDS[role]}@{server.host}:{server.port}/{database}"


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(DAEMON_READY_TIMEOUT_S + LAUNCH_TIMEOUT_S + CASCADE_TIMEOUT_S + BACKFILL_TIMEOUT_S + 180)
def test_the_readmes_production_path_from_a_clean_state(
    tmp_path: Path, restartable_postgres: PostgresServer, collector_process, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    checkout_before = checkout_state()
    server = restartable_postgres  # a cluster of its own: roles belong to the whole cluster
    _create_roles_and_databases(server)

    revolt_home = tmp_path / "revolt"
    revolt_home.mkdir()
    dagster_home = tmp_path / "dagster"  # a folder of its own, outside the checkout
    dagster_home.mkdir()
    shutil.copy(REPOSITORY / "deploy" / "production" / "dagster.yaml", dagster_home / "dagster.yaml")
    store_url = (revolt_home / "store").as_uri()
    instance_env = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": PASSWORDS["dagster"],
    }
    for name, value in instance_env.items():
        monkeypatch.setenv(name, value)

    collector = collector_process(
        revolt_home,
        env={"REVOLT_STORAGE_URL": store_url, "REVOLT_UPLOAD_INTERVAL_SECONDS": "0.2"},
        args=("--simulated-clock", f"{DAY}T08:00:00Z"),
    )
    _send_day(collector)

    env = clean_environment(
        **instance_env,
        REVOLT_HOME=str(revolt_home),
        REVOLT_COLLECTOR_URL=collector.url,
        REVOLT_ADMIN_TOKEN=ADMIN_TOKEN,
        REVOLT_STORAGE_URL=store_url,
        REVOLT_REPORT_DB_URL=_url(server, "reports"),
        REVOLT_PARTITIONS_START=PARTITIONS_START,
    )
    daemon_log = tmp_path / "dagster-daemon.log"

    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        process_group([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log) as daemon,
    ):
        deployment = Deployment(instance, daemon, daemon_log)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)

        # A cascade sensor follows the materializations after the latest one its first tick saw: one
        # written before would not be followed. Launch only once every sensor has ticked.
        deployment.wait(
            DAEMON_READY_TIMEOUT_S,
            "the sensors' first ticks",
            lambda i: all(_sensor_cursor(_sensor_states(i).get(name)) for name in SENSORS),
        )
        ready = time.monotonic()

        # Queues the run; only the daemon's run coordinator starts it.
        launch_log = tmp_path / "job-launch.log"
        tags = json.dumps({PARTITION_TAG: DAY})
        command = [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "raw_job", "--tags", tags]
        with process_group(command, env, launch_log) as launch:
            try:
                returncode = launch.wait(LAUNCH_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"dagster job launch did not finish within {LAUNCH_TIMEOUT_S} s:\n{tail(launch_log)}")
        assert returncode == 0, f"dagster job launch exited with {returncode}:\n{tail(launch_log)}"
        launched = time.monotonic()

        deployment.wait(
            CASCADE_TIMEOUT_S,
            "raw_job, then clean_job, catalog_job and report_job to succeed",
            lambda i: all(_succeeded(i, job) for job in CASCADED),
        )
        cascaded = time.monotonic()

        runs = {job: [run for run in _test_runs(instance) if run.job_name == job] for job in JOBS}
        counts = {job: len(job_runs) for job, job_runs in runs.items()}
        assert counts == dict.fromkeys(JOBS, 1), deployment.diagnostics(f"expected one run per job: {counts}")
        raw_run = runs["raw_job"][0]
        assert raw_run.status == dg.DagsterRunStatus.SUCCESS
        assert raw_run.tags[PARTITION_TAG] == DAY
        for job, (sensor, days) in CASCADED.items():
            run = runs[job][0]
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags.get(SENSOR_NAME_TAG) == sensor, run.tags
            assert tagged_days(run.tags) == days, run.tags

        # Every sensor ticks again after the last run finished, and launches nothing more.
        ends = [instance.get_run_record_by_id(runs[job][0].run_id) for job in CASCADED]
        assert all(record is not None and record.end_time is not None for record in ends)
        last_end = max(record.end_time for record in ends if record is not None and record.end_time is not None)

        def ticked_since(i: dg.DagsterInstance) -> bool:
            states = _sensor_states(i)
            return all(
                any(
                    tick.timestamp > last_end and tick.status.value != "STARTED"
                    for tick in i.get_ticks(states[name].instigator_origin_id, states[name].selector_id, limit=3)
                )
                for name in SENSORS
            )

        deployment.wait(60, "the sensors' next ticks", ticked_since)
        counts = {job: sum(run.job_name == job for run in _test_runs(instance)) for job in JOBS}
        assert counts == dict.fromkeys(JOBS, 1), deployment.diagnostics(f"a sensor launched again: {counts}")

        # The README's backfill of the report tables over a range of days: one run per job, followed to its end.
        first, last = EXPECTED_RANGE
        backfilled_jobs = ("report_job", "catalog_job")
        for done, job in enumerate(backfilled_jobs, start=1):
            backfill = subprocess.run(
                [str(BIN / "revolt"), "launch", job, "--from", first, "--to", last, "--wait"],
                cwd=REPOSITORY,
                env=env,
                capture_output=True,
                text=True,
                timeout=BACKFILL_TIMEOUT_S,
            )
            output = f"{backfill.stdout}{backfill.stderr}"
            assert backfill.returncode == 0, deployment.diagnostics(f"revolt launch: {output}")
            match = re.search(rf"{job} 2026-11-15 to 2026-11-19: run ([0-9a-f-]{{36}})", backfill.stdout)
            assert match, backfill.stdout
            assert f"http://127.0.0.1:3000/runs/{match.group(1)}" in backfill.stdout
            counts = {name: sum(run.job_name == name for run in _test_runs(instance)) for name in JOBS}
            expected = {name: 2 if name in backfilled_jobs[:done] else 1 for name in JOBS}
            assert counts == expected, deployment.diagnostics(f"the backfill made more than one run: {counts}")
            backfill_run = instance.get_run_by_id(match.group(1))
            assert backfill_run is not None and backfill_run.status == dg.DagsterRunStatus.SUCCESS
            assert tuple(backfill_run.tags.get(tag) for tag in RANGE_TAGS) == EXPECTED_RANGE
        backfilled = time.monotonic()

    # What BI tools see, as the read-only role.
    engine = create_engine(_url(server, "bi"))
    try:
        totals = {row["event_date"].isoformat(): row for row in read_rows(engine, schema.daily_active_users)}
        catalog = read_rows(engine, schema.event_catalog)
    finally:
        engine.dispose()
    assert LATE_DAY in totals, f"no daily_active_users total for the late event's day: {sorted(totals)}"
    assert totals[LATE_DAY]["active_users"] >= 1
    assert DAY in totals, sorted(totals)
    assert totals[DAY]["active_users"] >= 3  # user-1, user-2, user-3 (anon-1 too, unless stitched)
    # The raw day's property catalog, by the day it was received: the late event's property with the others.
    assert {row["received_date"].isoformat() for row in catalog} == {DAY}
    assert {
        (row["event_type"], row["event_name"], row["property"], row["json_type"], row["events"]) for row in catalog
    } == {
        ("identify", "identify", "plan", "string", 1),
        ("track", "Timer Started", "project", "string", 3),
        ("track", "Timer Stopped", "project", "string", 2),
    }
    with (
        psycopg.connect(host=server.host, port=server.port, user="bi", dbname="reports", autocommit=True) as bi,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        bi.execute("DELETE FROM daily_active_users")

    daemon_output = tail(daemon_log, 10_000)
    assert "Warning" not in daemon_output, daemon_output
    assert checkout_state() == checkout_before, "a Dagster process wrote into the checkout"

    print(
        f"\ndaemon ready {ready - started:.0f} s, job launch {launched - ready:.0f} s, "
        f"cascade {cascaded - launched:.0f} s, backfill {backfilled - cascaded:.0f} s, "
        f"total {time.monotonic() - started:.0f} s"
    )
