"""`revolt launch` and `dagster job launch` on the embedded default, with no daemon running.

Dagster's own command prints no run id, and its run then waits in the queue with nothing saying so
(the default instance queues too). `revolt launch` names the run and its page, and says who must start it.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg

from revolt_pipeline_tests.deployment.processes import BIN, REPOSITORY, clean_environment

DAY = "2026-11-20"
RUN_ID = re.compile(r"run ([0-9a-f-]{36}) queued")


def test_launch_without_a_daemon_prints_the_run_and_says_it_waits(tmp_path: Path) -> None:
    env = clean_environment(REVOLT_HOME=str(tmp_path), REVOLT_PARTITIONS_START="2026-11-01")
    launched = subprocess.run(
        [str(BIN / "revolt"), "launch", "raw_job", "--day", DAY], env=env, capture_output=True, text=True, timeout=300
    )
    assert launched.returncode == 0, launched.stderr
    match = RUN_ID.search(launched.stdout)
    assert match, launched.stdout
    run_id = match.group(1)
    assert f"http://127.0.0.1:3000/runs/{run_id}" in launched.stdout.splitlines()
    assert "no dagster-daemon is running" in launched.stderr and "revolt ui" in launched.stderr

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.job_name == "raw_job"
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.tags["dagster/partition"] == DAY

    # --wait does not wait forever for a daemon that is not there.
    waited = subprocess.run(
        [str(BIN / "revolt"), "launch", "clean_job", "--from", "2026-11-18", "--to", DAY, "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert waited.returncode == 1
    assert "no dagster-daemon is running" in waited.stderr
    assert "clean_job 2026-11-18 to 2026-11-20: run" in waited.stdout


def test_dagster_job_launch_queues_on_the_embedded_default_too(tmp_path: Path) -> None:
    """What the README says of Dagster's own command: its run waits for a daemon like ours."""
    home = tmp_path / "dagster"
    env = clean_environment(REVOLT_HOME=str(tmp_path), DAGSTER_HOME=str(home), REVOLT_PARTITIONS_START="2026-11-01")
    home.mkdir()
    shutil.copy(REPOSITORY / "dagster.yaml", home / "dagster.yaml")
    tags = json.dumps({"dagster/partition": DAY})
    launched = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "raw_job", "--tags", tags],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [run.status for run in instance.get_runs()] == [dg.DagsterRunStatus.QUEUED]


def test_days_outside_the_partitions_are_refused_before_anything_is_launched(tmp_path: Path) -> None:
    env = clean_environment(REVOLT_HOME=str(tmp_path), REVOLT_PARTITIONS_START="2026-11-01")
    for args, says in (
        (["--day", "2026-10-31"], "before the first partition, 2026-11-01 (REVOLT_PARTITIONS_START)"),
        (["--day", "2999-01-01"], "has no partition yet"),
        (["--from", "2026-11-20", "--to", "2026-11-18"], "is after --to"),
        ([], "give the day to run"),
    ):
        refused = subprocess.run(
            [str(BIN / "revolt"), "launch", "raw_job", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 2, (args, refused.stderr)
        assert says in refused.stderr, (args, refused.stderr)
    assert not (tmp_path / "dagster").exists()
