"""`revolt demo` and `revolt ui` as a newcomer types them: what they print, what they leave, what the UI shows."""

import io
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import Console, main
from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.demo.pipeline import check_prerequisites, partitions_for
from revolt_pipeline.settings import PARTITIONS_DEFAULT_DAYS, Settings
from revolt_pipeline_tests.deployment.processes import (
    BIN,
    REPOSITORY,
    UI_STATE,
    clean_environment,
    graphql,
    location_errors,
    process_group,
    tail,
    wait_for_webserver,
)
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.fixtures.services import free_port

DAY_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+[\d,]+){4}$")  # active users, sessions, WAU, MAU
STATUS_MARKERS = ("sending ", "sent ", "raw_job:", "clean_job:", "report_job:", "people_job:", "emptied ")
# The reset tests' demos, two each: two days' traffic of a few people leaves data everywhere a demo writes. The window
# received runs from the day before the traffic's first to yesterday, a week after its last (late deliveries): ten days
# rather than the default week's fifteen, and every day costs each job a partition. Not one day: the day moves with
# the date the tests run on, and five people can send nothing on a weekend day.
TWO_DAYS = ("--days", "2")
ANSI_CODE = re.compile(rb"\x1b\[[0-9;]*m")
STOPPED_CODE_SERVER = ("grpc._channel._InactiveRpcError", "dagster._core.errors.DagsterUserCodeUnreachableError")
PARTITION_STATS = """
{ assetNodes { assetKey { path } groupName
  partitionStats { numMaterialized numPartitions numFailed numMaterializing } } }
"""


def _glued(stderr: str) -> list[str]:
    """Lines holding more than one status (or progress) line: the progress line was not ended first."""
    return [line for line in stderr.splitlines() if sum(line.count(marker) for marker in STATUS_MARKERS) > 1]


def _unexpected_while_stopping(log: str) -> list[str]:
    """What a stopping `dagster dev` logged beyond its sensors' last tick finding the code server gone: the code
    server may stop before the sensor daemon, which can tick once more in between. Every traceback must end in that
    error, every ERROR record be the sensor daemon's, and nothing warn."""
    lines = log.splitlines()
    unexpected = []
    for number, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            # A traceback's frames are indented; its first line that is not is the exception it ends in.
            raised = next((later for later in lines[number + 1 :] if later and not later[0].isspace()), "")
            if not raised.startswith(STOPPED_CODE_SERVER):
                unexpected.append(raised or line)
        elif (" - ERROR - " in line and " - dagster.daemon.SensorDaemon - " not in line) or "Warning" in line:
            unexpected.append(line)
    return unexpected


def _partition_stats(url: str) -> dict[str, dict[str, Any]]:
    """Every layer's partition statuses; the `ml` group's models are trained for a chosen day (`revolt demo --ml`),
    never by the default demo."""
    nodes = graphql(url, PARTITION_STATS)["assetNodes"]
    return {"/".join(node["assetKey"]["path"]): node["partitionStats"] for node in nodes if node["groupName"] != "ml"}


@pytest.mark.slow
def test_a_fresh_demo_and_its_ui_show_every_day_of_the_window(tmp_path: Path) -> None:
    """Nothing set, a user who never ran Dagster: no banner, one line per status, the traffic's days only,
    and in the UI no welcome dialog, no warnings, and every raw partition materialized."""
    user_home = tmp_path / "user"
    user_home.mkdir()
    env = clean_environment(REVOLT_HOME=str(tmp_path / "revolt"), HOME=str(user_home))  # the default partitions
    demo = subprocess.run(
        [str(BIN / "revolt"), "demo", "--users", "30"], env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stderr
    for banner in ("Telemetry", "Welcome to Dagster", "Warning"):
        assert banner not in demo.stderr, demo.stderr
    assert _glued(demo.stderr) == [], demo.stderr
    assert re.search(r"^  sent [\d,]+ messages in [\d.]+ s$", demo.stderr, re.MULTILINE), demo.stderr

    truth = json.loads((tmp_path / "revolt" / "demo" / "ground-truth.json").read_text())
    shown = [match.group(1) for line in demo.stdout.splitlines() if (match := DAY_LINE.match(line))]
    assert shown == sorted(truth["days"]), demo.stdout  # no trailing days of zeros
    assert f"equal to the ground truth on all {len(truth['days'])} days" in demo.stdout
    assert "revolt ui" in demo.stdout
    assert not (user_home / ".dagster").exists(), "Dagster wrote outside the demo's DAGSTER_HOME"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "revolt-ui.log"
    with process_group([str(BIN / "revolt"), "ui", "--port", str(port)], env, log) as ui:
        wait_for_webserver(url, ui, log)
        state = graphql(url, UI_STATE)
        stats = _partition_stats(url)
        runs = graphql(url, "{ runsOrError { ... on Runs { results { jobName status } } } }")
        stopped_at = log.stat().st_size  # what follows was logged while the test stopped the UI
    assert location_errors(state) == []
    assert state["shouldShowNux"] is False, "the UI opens on Dagster's welcome dialog"
    daemons = {
        status["daemonType"]: status["healthy"] for status in state["instance"]["daemonHealth"]["allDaemonStatuses"]
    }
    assert daemons.get("QUEUED_RUN_COORDINATOR") is True, daemons
    assert sorted((run["jobName"], run["status"]) for run in runs["runsOrError"]["results"]) == [
        ("catalog_job", "SUCCESS"),
        ("clean_job", "SUCCESS"),
        ("funnels_job", "SUCCESS"),
        ("people_job", "SUCCESS"),
        ("raw_job", "SUCCESS"),
        ("report_job", "SUCCESS"),
    ]
    # Fifteen days by default, each materialized by the demo: none missing, none failed.
    window = {"numMaterialized": PARTITIONS_DEFAULT_DAYS, "numPartitions": PARTITIONS_DEFAULT_DAYS}
    # privacy_deletions is the one asset without partitions: it carries out deletion requests, which a demo has none of.
    assert [asset for asset, counts in stats.items() if counts is None] == ["privacy_deletions"]
    partitioned = {asset: counts for asset, counts in stats.items() if counts is not None}
    assert {asset: {**window, "numFailed": 0, "numMaterializing": 0} for asset in partitioned} == partitioned
    output = tail(log, 400)
    logged = log.read_bytes()
    # `revolt ui` became `dagster dev` under its own process id: it names the id that stops it.
    assert f"Ctrl-C or `kill {ui.pid}` stops it".encode() in logged, output
    running = ANSI_CODE.sub(b"", logged[:stopped_at]).decode(errors="replace")
    stopping = ANSI_CODE.sub(b"", logged[stopped_at:]).decode(errors="replace")
    running = "\n".join(running.splitlines()[-400:])
    for noise in ("Warning", "Found a dagster instance configuration", "Traceback"):
        assert noise not in running, output
    assert _unexpected_while_stopping(stopping) == [], output


def test_the_demo_checks_the_report_database_before_it_sends_anything(tmp_path: Path) -> None:
    home = tmp_path / "revolt"
    url = f"postgresql+psycopg://reports:secret@127.0.0.1:{free_port()}/reports"
    result = CliRunner().invoke(main, ["demo"], env={"REVOLT_HOME": str(home), "REVOLT_REPORT_DB_URL": url})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot reach the report database postgresql+psycopg://reports:***@127.0.0.1:")
    assert "(REVOLT_REPORT_DB_URL)" in lines[0] and "secret" not in lines[0]
    for written in ("store", "spool", "demo", "dagster"):
        assert not (home / written).exists(), f"the demo wrote {written} before failing"


def test_the_demo_says_when_its_days_are_not_partitions(tmp_path: Path) -> None:
    fifteen_days_back = (datetime.now(UTC).date() - timedelta(days=PARTITIONS_DEFAULT_DAYS)).isoformat()
    env = {"REVOLT_HOME": str(tmp_path), "REVOLT_PARTITIONS_START": fifteen_days_back}  # configured: it stands
    result = CliRunner().invoke(main, ["demo", "--days", "30"], env=env)
    assert result.exit_code == 1
    assert "before the first daily partition" in result.output and "REVOLT_PARTITIONS_START=" in result.output
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("fast", [[], ["--fast"]], ids=["through Dagster", "fast"])
def test_a_demo_that_plans_no_traffic_says_so_and_writes_nothing(tmp_path: Path, fast: list[str]) -> None:
    """Five people over one Saturday send nothing: a clear error, not an IndexError, and nothing written."""
    saturday = "2026-11-21"
    result = CliRunner().invoke(
        main, ["demo", *fast, "--days", "1", "--users", "5", "--start", saturday], env={"REVOLT_HOME": str(tmp_path)}
    )
    assert result.exit_code == 1, result.output
    assert f"Error: the demo planned no traffic: 5 people over 1 day(s) from {saturday}" in result.output
    assert "add --users or --days" in result.output
    for written in ("store", "spool", "demo", "dagster"):
        assert not (tmp_path / written).exists(), f"the demo wrote {written} before failing"


def test_a_new_home_begins_its_partitions_on_the_demos_first_day(tmp_path: Path, monkeypatch: Any) -> None:
    """`revolt demo --ml` (eight weeks back) works on a new home: the recorded default (15 days back) moves to the
    demo's first day while nothing is built on it, and stays once something is, unless the demo resets."""
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.delenv("REVOLT_PARTITIONS_START", raising=False)
    settings = Settings.from_env()
    traffic = plan_traffic(seed=3, users=4, days=30)
    first = traffic.messages[0].send_time.date().isoformat()
    assert first < settings.partitions_start and settings.partitions_start_recorded

    moved = partitions_for(settings, traffic, reset=False)
    assert moved.partitions_start == first == Settings.from_env().partitions_start  # recorded for every process
    check_prerequisites(moved, traffic)

    (tmp_path / "partitions-start").write_text(settings.partitions_start + "\n")
    settings.store.put("landing/a-previous-demo.jsonl.gz", b"")
    assert partitions_for(settings, traffic, reset=False) == settings  # its runs' partitions stay
    assert partitions_for(settings, traffic, reset=True).partitions_start == first

    monkeypatch.setenv("REVOLT_PARTITIONS_START", settings.partitions_start)
    configured = Settings.from_env()
    assert partitions_for(configured, traffic, reset=True) == configured


@pytest.mark.slow
def test_reset_empties_the_configured_locations_and_nothing_else(tmp_path: Path) -> None:
    """Every location set elsewhere than REVOLT_HOME: --reset must empty those, not REVOLT_HOME's defaults."""
    home, elsewhere = tmp_path / "revolt", tmp_path / "elsewhere"
    env = {
        "REVOLT_HOME": str(home),
        "REVOLT_STORAGE_URL": (elsewhere / "lake").as_uri(),
        "REVOLT_SPOOL_DIR": str(elsewhere / "spool"),
        "REVOLT_REPORT_DB_URL": f"sqlite:///{elsewhere / 'reports.sqlite'}",
        "DAGSTER_HOME": str(elsewhere / "dagster"),
    }
    untouched = home / "store" / "landing" / "not-the-demos.txt"
    untouched.parent.mkdir(parents=True)
    untouched.write_text("REVOLT_STORAGE_URL points elsewhere: this is no demo data")
    runner = CliRunner()

    first = runner.invoke(main, ["demo", *TWO_DAYS, "--users", "8"], env=env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["demo", *TWO_DAYS, "--users", "8"], env=env)
    assert again.exit_code == 1
    assert (elsewhere / "lake").as_uri() in again.output and "revolt demo --reset" in again.output

    reset = runner.invoke(main, ["demo", *TWO_DAYS, "--users", "8", "--reset"], env=env)
    assert reset.exit_code == 0, reset.output
    emptied = [line.strip() for line in reset.stderr.splitlines() if line.strip().startswith("emptied ")]
    assert emptied == [
        f"emptied {(elsewhere / 'lake').as_uri()}",
        f"emptied {elsewhere / 'spool'}",
        f"emptied report tables in sqlite:///{elsewhere / 'reports.sqlite'}",
        f"emptied Dagster runs in {elsewhere / 'dagster'}",
        f"emptied {home / 'demo'}",
    ]
    assert untouched.exists()
    assert "equal to the ground truth" in reset.output
    with dg.DagsterInstance.from_config(str(elsewhere / "dagster")) as instance:
        jobs = sorted(run.job_name for run in instance.get_runs())
        assert jobs == ["catalog_job", "clean_job", "funnels_job", "people_job", "raw_job", "report_job"]


@pytest.mark.slow
def test_leftovers_and_reset_on_s3_and_postgresql(tmp_path: Path, s3_bucket: S3Bucket, postgres_url: str) -> None:
    env = {
        "REVOLT_HOME": str(tmp_path),
        "REVOLT_STORAGE_URL": s3_bucket.url("lake"),
        "REVOLT_S3_ENDPOINT_URL": s3_bucket.endpoint_url,
        "REVOLT_REPORT_DB_URL": postgres_url,
    }
    runner = CliRunner()
    assert runner.invoke(main, ["demo", *TWO_DAYS, "--users", "5"], env=env).exit_code == 0
    again = runner.invoke(main, ["demo", *TWO_DAYS, "--users", "5"], env=env)
    assert again.exit_code == 1
    assert s3_bucket.url("lake") in again.output and "report tables in postgresql+psycopg://" in again.output
    reset = runner.invoke(main, ["demo", *TWO_DAYS, "--users", "5", "--reset"], env=env)
    assert reset.exit_code == 0, reset.output
    assert f"emptied {s3_bucket.url('lake')}" in reset.stderr
    assert "emptied report tables in postgresql+psycopg://" in reset.stderr
    assert "equal to the ground truth" in reset.output


def test_reset_leaves_an_instance_that_keeps_its_runs_in_a_database_alone(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPOSITORY / "deploy" / "production" / "dagster.yaml", dagster_home / "dagster.yaml")
    landed = tmp_path / "store" / "landing" / "2026-11-20.jsonl.gz"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(b"")
    env = {"REVOLT_HOME": str(tmp_path), "DAGSTER_HOME": str(dagster_home)}
    result = CliRunner().invoke(main, ["demo", "--reset"], env=env)
    assert result.exit_code == 1
    assert "keeps its runs in a database" in result.output and "--reset does not wipe it" in result.output
    assert landed.exists(), "--reset emptied the store before refusing"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_estimates_from_the_sending_rate_and_never_swallows_a_status() -> None:
    now = [100.0]
    terminal = FakeTerminal()
    console = Console(terminal, clock=lambda: now[0])
    console.say("sending 6,000 messages of 250 people over 7 days from 2026-11-15")
    console.progress(0, 6000)  # planning the traffic took long before this: it must not count
    now[0] += 2.0
    console.progress(1000, 6000)
    assert terminal.getvalue().endswith("sending  16%  1,000 of 6,000 messages, 10 s left\x1b[K")
    console.say("a status while the progress line is drawn")
    now[0] += 10.0
    console.progress(6000, 6000)
    console.say("raw_job: received days 2026-11-14 to 2026-11-28")
    lines = terminal.getvalue().split("\n")
    assert lines[1].endswith("10 s left\x1b[K")  # the status that followed starts on a line of its own
    assert lines[2] == "  a status while the progress line is drawn"
    assert lines[3].endswith("sent 6,000 messages in 12.0 s\x1b[K")
    assert lines[4] == "  raw_job: received days 2026-11-14 to 2026-11-28"

    log = io.StringIO()  # not a terminal: one line when done, nothing in between
    console = Console(log, clock=lambda: now[0])
    console.progress(0, 10)
    console.progress(5, 10)
    now[0] += 1.0
    console.progress(10, 10)
    assert log.getvalue() == "  sent 10 messages in 1.0 s\n"
