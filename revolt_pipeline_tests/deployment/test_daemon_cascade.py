"""Acceptance: the production deployment, end to end, with real processes only.

A collector process on a simulated clock holds a past day's events; `dagster job launch` queues the raw
job for that day on an instance kept in PostgreSQL (the repository's own `dagster.yaml`), and
`dagster-daemon` runs it and the cascade its sensors launch: clean_job over the event days the raw day
touched (a late event reopens an older day), then report_job over the same days.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster._core.scheduler.instigation import InstigatorState, InstigatorType, TickStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    SENSOR_NAME_TAG,
)
from sqlalchemy.engine import make_url

from revolt_pipeline.contract import parse_timestamp
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess
from revolt_pipeline_tests.fixtures.postgres import PostgresServer

REPOSITORY = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

DAY = "2026-11-18"
NEXT_DAY = "2026-11-19"
LATE_DAY = "2026-11-16"  # the late event's corrected day: two days before DAY
PARTITIONS_START = "2026-11-10"
# The touched days (LATE_DAY and DAY), one day more on each side.
EXPECTED_RANGE = ("2026-11-15", "2026-11-19")
SENSORS = ("clean_after_raw", "reports_after_clean")
JOBS = ("raw_job", "clean_job", "report_job")

DAEMON_READY_TIMEOUT_S = 120  # the daemon starts a code server before the sensors' first tick
LAUNCH_TIMEOUT_S = 120
CASCADE_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30
POLL_S = 2.0
LOG_TAIL_LINES = 80

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


@contextlib.contextmanager
def _process_group(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A background process in its own process group; the whole group (code servers, run workers) is
    stopped on exit: SIGTERM, then SIGKILL for whatever is left after a timeout."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args, cwd=REPOSITORY, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    group = process.pid  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)  # anything left in the group (a code server, a run worker)?
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait(STOP_TIMEOUT_S)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _sensor_states(instance: dg.DagsterInstance) -> dict[str, InstigatorState]:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return {state.instigator_name: state for state in states if state.instigator_name in SENSORS}


def _sensor_cursor(state: InstigatorState | None) -> str | None:
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
        lines += ["", f"dagster-daemon log tail ({self.daemon_log}):", _tail(self.daemon_log)]
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


def _succeeded(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun | None:
    runs = [run for run in instance.get_runs() if run.job_name == job_name]
    return next((run for run in runs if run.status == dg.DagsterRunStatus.SUCCESS), None)


@pytest.mark.services
@pytest.mark.timeout(DAEMON_READY_TIMEOUT_S + LAUNCH_TIMEOUT_S + CASCADE_TIMEOUT_S + 180)
def test_job_launch_on_postgres_instance_cascades_under_the_daemon(
    tmp_path: Path, postgres_server: PostgresServer, collector_process, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    revolt_home = tmp_path / "revolt"
    revolt_home.mkdir()
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPOSITORY / "dagster.yaml", dagster_home / "dagster.yaml")
    store_url = (revolt_home / "store").as_uri()

    database = make_url(postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:12]}"))
    instance_env = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": database.host or "",
        "DAGSTER_PG_PORT": str(database.port),
        "DAGSTER_PG_DB": database.database or "",
        "DAGSTER_PG_USERNAME": database.username or "",
        "DAGSTER_PG_PASSWORD": "",
    }
    for name, value in instance_env.items():
        monkeypatch.setenv(name, value)

    collector = collector_process(
        revolt_home,
        env={"REVOLT_STORAGE_URL": store_url, "REVOLT_UPLOAD_INTERVAL_SECONDS": "0.2"},
        args=("--simulated-clock", f"{DAY}T08:00:00Z"),
    )
    _send_day(collector)

    report_db_url = f"sqlite:///{revolt_home / 'reports.sqlite'}"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("REVOLT_", "DAGSTER_"))},
        **instance_env,
        "REVOLT_HOME": str(revolt_home),
        "REVOLT_COLLECTOR_URL": collector.url,
        "REVOLT_ADMIN_TOKEN": ADMIN_TOKEN,
        "REVOLT_STORAGE_URL": store_url,
        "REVOLT_REPORT_DB_URL": report_db_url,
        "REVOLT_PARTITIONS_START": PARTITIONS_START,
    }
    workspace = str(REPOSITORY / "workspace.yaml")
    daemon_log = tmp_path / "dagster-daemon.log"

    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        _process_group([str(BIN / "dagster-daemon"), "run", "-w", workspace], env, daemon_log) as daemon,
    ):
        deployment = Deployment(instance, daemon, daemon_log)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

        # A run status sensor starts from the moment of its first tick: runs that finish before it
        # are not seen. Launch only once both sensors have ticked.
        deployment.wait(
            DAEMON_READY_TIMEOUT_S,
            "the sensors' first ticks",
            lambda i: all(_sensor_cursor(_sensor_states(i).get(name)) for name in SENSORS),
        )
        ready = time.monotonic()

        # Queues the run; only the daemon's run coordinator starts it.
        launch_log = tmp_path / "job-launch.log"
        tags = json.dumps({PARTITION_NAME_TAG: DAY})
        command = [str(BIN / "dagster"), "job", "launch", "-w", workspace, "-j", "raw_job", "--tags", tags]
        with _process_group(command, env, launch_log) as launch:
            try:
                returncode = launch.wait(LAUNCH_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"dagster job launch did not finish within {LAUNCH_TIMEOUT_S} s:\n{_tail(launch_log)}")
        assert returncode == 0, f"dagster job launch exited with {returncode}:\n{_tail(launch_log)}"
        launched = time.monotonic()

        report_run = deployment.wait(
            CASCADE_TIMEOUT_S,
            "raw_job, then clean_job and report_job to succeed",
            lambda i: _succeeded(i, "report_job"),
        )
        cascaded = time.monotonic()

        runs = {job: [run for run in instance.get_runs() if run.job_name == job] for job in JOBS}
        counts = {job: len(job_runs) for job, job_runs in runs.items()}
        assert counts == dict.fromkeys(JOBS, 1), deployment.diagnostics(f"expected one run per job: {counts}")
        raw_run, clean_run = runs["raw_job"][0], runs["clean_job"][0]
        assert raw_run.status == dg.DagsterRunStatus.SUCCESS
        assert raw_run.tags[PARTITION_NAME_TAG] == DAY
        for run, sensor in ((clean_run, "clean_after_raw"), (report_run, "reports_after_clean")):
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags.get(SENSOR_NAME_TAG) == sensor, run.tags
            assert (
                run.tags.get(ASSET_PARTITION_RANGE_START_TAG),
                run.tags.get(ASSET_PARTITION_RANGE_END_TAG),
            ) == EXPECTED_RANGE, run.tags

        # Both sensors tick again after the last run finished, and launch nothing more.
        report_record = instance.get_run_record_by_id(report_run.run_id)
        assert report_record is not None and report_record.end_time is not None
        report_end = report_record.end_time

        def ticked_since(i: dg.DagsterInstance) -> bool:
            states = _sensor_states(i)
            return all(
                any(
                    tick.timestamp > report_end and tick.status != TickStatus.STARTED
                    for tick in i.get_ticks(states[name].instigator_origin_id, states[name].selector_id, limit=3)
                )
                for name in SENSORS
            )

        deployment.wait(60, "the sensors' next ticks", ticked_since)
        counts = {job: sum(run.job_name == job for run in instance.get_runs()) for job in JOBS}
        assert counts == dict.fromkeys(JOBS, 1), deployment.diagnostics(f"a sensor launched again: {counts}")

    engine = create_engine(report_db_url)
    try:
        totals = {
            row["event_date"].isoformat(): row
            for row in read_rows(engine, schema.daily_active_users)
            if row["platform"] == schema.ALL and row["app_version"] == schema.ALL
        }
    finally:
        engine.dispose()
    assert LATE_DAY in totals, f"no daily_active_users total for the late event's day: {sorted(totals)}"
    assert totals[LATE_DAY]["active_users"] >= 1
    assert DAY in totals, sorted(totals)
    assert totals[DAY]["active_users"] >= 3  # user-1, user-2, user-3 (anon-1 too, unless stitched)

    print(
        f"\ndaemon ready {ready - started:.0f} s, job launch {launched - ready:.0f} s, "
        f"cascade {cascaded - launched:.0f} s, total {time.monotonic() - started:.0f} s"
    )
