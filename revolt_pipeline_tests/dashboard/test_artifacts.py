"""The test run ends by saying where the screenshots it kept are, so a CI log leads to them."""

import os
import subprocess
import sys
import time
from pathlib import Path

from revolt_pipeline_tests.dashboard.artifacts import ARTIFACTS_ENV, kept_since

ROOT = Path(__file__).resolve().parents[2]


def test_only_what_the_run_wrote_is_counted(tmp_path: Path) -> None:
    old = tmp_path / "dashboard" / "sqlite-overview.png"
    old.parent.mkdir()
    old.write_bytes(b"png")
    os.utime(old, (1_000, 1_000))
    started = time.time() - 1
    assert kept_since(started, tmp_path) == []
    for name in ("sqlite-overview.png", "postgresql-overview.png"):
        (tmp_path / "dashboard" / name).write_bytes(b"png")
    assert kept_since(started, tmp_path) == [f"2 kept in {tmp_path / 'dashboard'}"]
    assert kept_since(started, tmp_path / "none") == []


def test_the_runs_summary_names_the_folder_of_its_screenshots(tmp_path: Path) -> None:
    """pytest itself, as CI runs it: a test writing a screenshot, and the summary's last lines say where."""
    test = tmp_path / "test_writes_a_screenshot.py"
    test.write_text(
        "from revolt_pipeline_tests.dashboard.artifacts import artifacts_dir\n"
        "def test_screenshot():\n"
        "    (artifacts_dir() / 'overview.png').write_bytes(b'png')\n"
    )
    env = {**os.environ, ARTIFACTS_ENV: str(tmp_path / "kept")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "revolt_pipeline_tests.conftest", "-p", "no:randomly", "-n0",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(test)],
        env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "test artefacts" in result.stdout
    assert f"1 kept in {tmp_path / 'kept' / 'dashboard'}" in result.stdout
