"""What a data engineer reads when a service the pipeline needs is down: the first error line says what
to start or set, and Dagster's beta notices do not bury it."""

import re
import subprocess
from pathlib import Path

import pytest

from revolt_pipeline.defs.ingestion.resources import CollectorUnavailable, HttpCollectorResource
from revolt_pipeline_tests.deployment.processes import BIN, REPOSITORY, clean_environment
from revolt_pipeline_tests.fixtures.collector import CollectorHarness
from revolt_pipeline_tests.fixtures.services import refused_port

DAY = "2026-11-20"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _materialize(tmp_path: Path, asset: str, **settings: str) -> list[str]:
    """`dagster asset materialize` as the docs give it; returns what it printed, line by line."""
    env = clean_environment(
        REVOLT_HOME=str(tmp_path),
        DAGSTER_HOME=str(tmp_path / "dagster"),
        REVOLT_PARTITIONS_START="2026-11-01",
        **settings,
    )
    (tmp_path / "dagster").mkdir(exist_ok=True)
    (tmp_path / "dagster" / "dagster.yaml").write_text((REPOSITORY / "dagster.yaml").read_text())
    command = [
        str(BIN / "dagster"), "asset", "materialize",
        "-m", "revolt_pipeline.definitions", "--select", asset, "--partition", DAY,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    return ANSI.sub("", done.stdout + done.stderr).splitlines()


def _first_error(lines: list[str]) -> str:
    """The line naming the step's error: the one after Dagster's STEP_FAILURE line, past a blank."""
    failures = [n for n, line in enumerate(lines) if "STEP_FAILURE" in line]
    assert failures, "no step failed; the command printed:\n" + "\n".join(lines)
    return next(line for line in lines[failures[0] + 1 :] if line.strip())


def test_raw_events_with_the_collector_down_says_what_to_start(tmp_path: Path) -> None:
    with refused_port() as port:
        lines = _materialize(tmp_path, "raw_events", REVOLT_COLLECTOR_URL=f"http://127.0.0.1:{port}")
    first = _first_error(lines)
    assert first.startswith("revolt_pipeline.defs.ingestion.resources.CollectorUnavailable: cannot reach the collector")
    assert "`revolt collector serve`" in first and "REVOLT_COLLECTOR_URL" in first
    assert not [line for line in lines if "BetaWarning" in line]
    assert not [line for line in lines if "caused by" in line]  # no chain of HTTP client tracebacks


def test_a_report_table_with_the_database_down_names_its_setting(tmp_path: Path) -> None:
    with refused_port() as port:
        url = f"postgresql+psycopg://reports:secret@127.0.0.1:{port}/reports"
        lines = _materialize(tmp_path, "event_catalog", REVOLT_REPORT_DB_URL=url, REVOLT_PIPELINE_RETRIES="0")
    first = _first_error(lines)
    assert first.startswith(
        "revolt_pipeline.defs.reports.resources.ReportDatabaseUnavailable: cannot open the report database "
        "postgresql+psycopg://reports:***@127.0.0.1:"
    )
    assert "(REVOLT_REPORT_DB_URL): start its server" in first
    assert not [line for line in lines if "secret" in line]
    assert len(lines) < 120, "\n".join(lines)  # it was 312


def test_a_wrong_admin_token_says_where_the_right_one_is(collector_server: CollectorHarness) -> None:
    with pytest.raises(CollectorUnavailable, match=r"refused the admin token \(REVOLT_ADMIN_TOKEN\)") as refused:
        HttpCollectorResource(url=collector_server.url, admin_token="wrong-token").flush()
    assert "revolt collector admin-token" in str(refused.value)
