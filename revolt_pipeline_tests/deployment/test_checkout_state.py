"""The check that a Dagster process left the checkout as it was sees what git status does not show."""

import shutil
import subprocess
from pathlib import Path

import pytest

from revolt_pipeline_tests.deployment.processes import REPOSITORY, checkout_state


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git work tree ignoring what the project's .gitignore ignores."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copy(REPOSITORY / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def test_a_temporary_dagster_home_left_in_the_checkout_is_seen_although_git_ignores_it(checkout: Path) -> None:
    before = checkout_state(checkout)
    home = checkout / ".tmp_dagster_home_abc123"
    (home / "storage").mkdir(parents=True)
    (home / "storage" / "runs.db").write_bytes(b"")
    git = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True, check=True)
    assert ".tmp_dagster_home" not in git.stdout  # what the check used to rely on

    assert checkout_state(checkout) - before == {
        "dagster: .tmp_dagster_home_abc123/",
        "dagster: .tmp_dagster_home_abc123/storage/",
        "dagster: .tmp_dagster_home_abc123/storage/runs.db",
    }


def test_the_folders_dagster_writes_in_its_home_are_seen_even_empty(checkout: Path) -> None:
    before = checkout_state(checkout)
    for folder in ("storage", "logs", "history", ".nux"):
        (checkout / folder).mkdir()
    assert checkout_state(checkout) - before == {
        "dagster: storage/",
        "dagster: logs/",
        "dagster: history/",
        "dagster: .nux/",
    }


def test_a_change_git_sees_is_seen_too(checkout: Path) -> None:
    before = checkout_state(checkout)
    (checkout / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    assert checkout_state(checkout) - before == {"git: ?? dagster.yaml"}
