"""Launching a job's run through the Dagster instance, and following what becomes of it.

The run is submitted by `dagster job launch` itself (the instance's run coordinator, the workspace's code
location), given a run id chosen here: Dagster's command prints none. A queued run waits for a
dagster-daemon serving the instance; whether one is running is read from the daemons' heartbeats.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from revolt_pipeline.defs.cascade import partition_range_tags
from revolt_pipeline.instance import WORKSPACE_FILE

# The daemon that starts queued runs, and how recent its heartbeat must be (it beats every 30 s).
QUEUED_RUN_DAEMON = "QUEUED_RUN_COORDINATOR"
HEARTBEAT_FRESH_SECONDS = 90.0

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# `dagster job launch` loads the code location before it submits: seconds, not minutes.
LAUNCH_TIMEOUT_SECONDS = 300.0
ERROR_TAIL_LINES = 12


class LaunchError(RuntimeError):
    """`dagster job launch` refused or failed; the message holds the end of what it printed."""


@dataclass(frozen=True)
class Launched:
    run_id: str
    status: dg.DagsterRunStatus
    queued_without_daemon: bool


def launch_run(
    dagster_home: Path,
    job: str,
    first: date,
    last: date,
    *,
    ui_url: str,
    wait: bool,
    say: Callable[[str], None],
    note: Callable[[str], None],
) -> None:
    """`revolt launch`: submit a run of `job` over the days, `say` its id and page, and follow it with `wait`,
    giving each state it passes through and any warning to `note`.

    Raises LaunchError when it cannot be submitted, when it fails (with its failed steps and why), and when
    `wait` is asked of a run that no daemon will start; without `wait`, that last is only said.
    """
    span = first.isoformat() if first == last else f"{first} to {last}"
    run_id = submit(dagster_home, job, partition_range_tags(first.isoformat(), last.isoformat()))
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        launched = status_of(instance, run_id)
        say(f"{job} {span}: run {run_id} {launched.status.value.lower()}")
        say(f"{ui_url}/runs/{run_id}")
        if wait and not launched.queued_without_daemon:
            started = time.monotonic()
            launched = wait_for(instance, run_id, lambda status: note(f"  {status.value.lower()}"))
            if launched.status == dg.DagsterRunStatus.SUCCESS:
                say(f"{job} {span}: succeeded in {time.monotonic() - started:.0f} s")
                return
            if launched.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                details = "\n".join(f"  {line}" for line in failure_messages(instance, run_id))
                raise LaunchError(f"{job} {span}: run {launched.status.value.lower()}\n{details}".rstrip())
        if launched.queued_without_daemon:
            message = (
                f"no dagster-daemon is running for the instance in {dagster_home} (DAGSTER_HOME): the run waits "
                "in its queue until one starts. Start `revolt ui` (the UI and a daemon), or `dagster-daemon run "
                "-w workspace.yaml` with DAGSTER_HOME exported"
            )
            if wait:
                raise LaunchError(message)
            note(f"warning: {message}")


def submit(dagster_home: Path, job: str, tags: dict[str, str]) -> str:
    """Submit a run of `job` to the instance in `dagster_home` with `dagster job launch`; returns its run id."""
    run_id = str(uuid.uuid4())
    command = [
        sys.executable, "-m", "dagster", "job", "launch",
        "-w", str(WORKSPACE_FILE),
        "-j", job,
        "--tags", json.dumps(tags),
        "--run-id", run_id,
    ]  # fmt: skip
    env = dagster_environment(dagster_home)
    try:
        completed = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LaunchError(f"dagster job launch did not finish within {LAUNCH_TIMEOUT_SECONDS:.0f} s") from exc
    if completed.returncode != 0:
        raise LaunchError(f"dagster job launch failed (exit {completed.returncode}):\n{_tail(completed)}")
    return run_id


def dagster_environment(dagster_home: Path) -> dict[str, str]:
    """This process's environment handed on to a Dagster command, on the instance in `dagster_home`."""
    return {**os.environ, "DAGSTER_HOME": str(dagster_home)}


def serve_ui(dagster_home: Path, host: str, port: int) -> None:
    """Become `dagster dev` (the UI and a daemon) on the instance in `dagster_home`; never returns."""
    env = dagster_environment(dagster_home)
    # `dagster dev` works and is what the docs name; its notice that `dg dev` supersedes it is noise here.
    env["PYTHONWARNINGS"] = ",".join(
        filter(None, [env.get("PYTHONWARNINGS"), "ignore:Function `dev_command` is superseded"])
    )
    # Run from DAGSTER_HOME: `dagster dev` warns about any other folder's dagster.yaml (the checkout has one).
    os.chdir(dagster_home)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(WORKSPACE_FILE), "-h", host, "-p", str(port)]
    exec_interruptible(command, env)


def exec_interruptible(command: list[str], env: dict[str, str]) -> None:
    """Become `command`, which SIGINT and SIGTERM stop, however this process was started.

    `dagster dev` stops on SIGTERM by treating it as SIGINT. A shell that starts it in the background (`&`, a
    service script) makes it ignore SIGINT, and an ignored signal stays ignored across exec: SIGTERM was then
    ignored too, and the UI, daemon and code servers kept running.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(command[0], command, env)


def daemon_running(instance: dg.DagsterInstance, now: float | None = None) -> bool:
    """True when a dagster-daemon serving this instance has started queued runs in the last minute or so."""
    beat = instance.get_daemon_heartbeats().get(QUEUED_RUN_DAEMON)
    return beat is not None and (now if now is not None else time.time()) - beat.timestamp < HEARTBEAT_FRESH_SECONDS


def queues_runs(instance: dg.DagsterInstance) -> bool:
    """True when launched runs wait for a daemon (the queued run coordinator) rather than start at once."""
    return isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)


def status_of(instance: dg.DagsterInstance, run_id: str) -> Launched:
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise LaunchError(f"dagster job launch succeeded but run {run_id} is not in the instance")
    waiting = run.status == dg.DagsterRunStatus.QUEUED and queues_runs(instance) and not daemon_running(instance)
    return Launched(run_id, run.status, waiting)


def wait_for(
    instance: dg.DagsterInstance,
    run_id: str,
    on_change: Callable[[dg.DagsterRunStatus], None],
    poll_seconds: float = 1.0,
) -> Launched:
    """Follow the run until it finishes, or until it is queued with no daemon to start it."""
    seen: dg.DagsterRunStatus | None = None
    while True:
        launched = status_of(instance, run_id)
        if launched.status != seen:
            seen = launched.status
            on_change(seen)
        if launched.status in FINISHED or launched.queued_without_daemon:
            return launched
        time.sleep(poll_seconds)


def failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The failed steps of a run and why, one line each: what a user reads before opening the UI."""
    messages = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is None or event.step_failure_data is None:
            continue
        messages.append(f"{event.step_key}: {failure_reason(event.step_failure_data)}")
    if not messages:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            if record.dagster_event is not None and record.dagster_event.message:
                messages.append(record.dagster_event.message)
    return messages


def failure_reason(data: object) -> str:
    """A step failure's reason in one line: a Failure's description, else the innermost error's message."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and getattr(user, "description", None):
        return " ".join(user.description.split())
    error = getattr(data, "error", None)
    while error is not None and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause  # Dagster's wrapper ("Error occurred while executing op ...") around ours
    if error is None:
        return "failed"
    return " ".join(f"{error.cls_name}: {error.message.split(':', 1)[-1]}".split())


def _tail(completed: subprocess.CompletedProcess[str]) -> str:
    """The end of what `dagster job launch` printed, without its code server's routine log lines."""
    routine = (" - INFO - ", " - DEBUG - ", "Usage: ", "Try '")
    text = re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout + completed.stderr)  # Dagster colours its log levels
    lines = [line for line in text.splitlines() if line.strip() and not any(marker in line for marker in routine)]
    return "\n".join(lines[-ERROR_TAIL_LINES:])
