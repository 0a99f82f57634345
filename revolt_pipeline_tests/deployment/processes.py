"""Dagster's and our commands as child processes, the way an operator starts them, and their UI's GraphQL."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPOSITORY = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STOP_TIMEOUT_S = 30
LOG_TAIL_LINES = 80
# Dagster and project settings a test's commands must not inherit from the machine's shell.
INHERITED_PREFIXES = ("REVOLT_", "DAGSTER_")


def clean_environment(**settings: str) -> dict[str, str]:
    """This machine's environment without REVOLT_* and DAGSTER_* variables, plus `settings`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(INHERITED_PREFIXES)}
    return {**env, **settings}


@contextlib.contextmanager
def process_group(
    args: list[str], env: dict[str, str], log: Path, cwd: Path = REPOSITORY
) -> Iterator[subprocess.Popen[bytes]]:
    """A background process in its own process group; the whole group (code servers, run workers) is
    stopped on exit: SIGTERM, then SIGKILL for whatever is left after a timeout."""
    with open(log, "ab") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
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


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_webserver(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until the Dagster webserver at `url` answers; fails with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the UI exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/server_info", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"the UI did not answer within {timeout:.0f} s:\n{tail(log)}")


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data of a query to the Dagster UI's GraphQL API (what its pages show)."""
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    document = response.json()
    assert not document.get("errors"), document["errors"]
    return document["data"]


UI_STATE = """
{
  shouldShowNux
  workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename
    ... on PythonError { message } } } } }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}
"""


def location_errors(state: dict[str, Any]) -> list[str]:
    """Code locations of the workspace that failed to load, with why."""
    entries = state["workspaceOrError"]["locationEntries"]
    return [
        f"{entry['name']}: {entry['locationOrLoadError'].get('message')}"
        for entry in entries
        if entry["locationOrLoadError"] is None or entry["locationOrLoadError"]["__typename"] != "RepositoryLocation"
    ]


# What Dagster writes in its home, where a process that took the checkout for DAGSTER_HOME (or `dagster dev`
# without one: .tmp_dagster_home_*) would leave it. git status cannot be trusted to show these: the
# temporary home is in .gitignore, and an empty folder is never listed.
DAGSTER_LEFTOVERS = (".tmp_dagster_home_*", "storage", "logs", "history", "schedules", ".nux", ".telemetry")


def checkout_state(root: Path = REPOSITORY) -> set[str]:
    """Paths git sees as changed or untracked in the checkout (ignored ones aside, none without git), and
    every file and folder Dagster would leave in it, whether git ignores them or not."""
    leftovers = {
        f"dagster: {path.relative_to(root)}{'/' if path.is_dir() else ''}"
        for pattern in DAGSTER_LEFTOVERS
        for found in root.glob(pattern)
        for path in (found, *found.rglob("*"))
    }
    try:
        listed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return leftovers  # not a git checkout (an unpacked source tree)
    return leftovers | {f"git: {line}" for line in listed.stdout.splitlines()}
