"""The shipped Dagster instances: the embedded default (the checkout's dagster.yaml) and production's.

`dagster dev` typed in the checkout with nothing set must start (it reads the checkout's dagster.yaml,
which once asked for DAGSTER_PG_USERNAME), without warnings, and open on the asset graph rather than
on Dagster's "Join the community" dialog. The production file keeps runs in PostgreSQL.
"""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy.engine import make_url

from revolt_pipeline.instance import INSTANCE_FILE, WORKSPACE_FILE
from revolt_pipeline_tests.deployment.processes import (
    BIN,
    REPOSITORY,
    UI_STATE,
    checkout_state,
    clean_environment,
    graphql,
    location_errors,
    process_group,
    tail,
    wait_for_webserver,
)
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.services import free_port

PRODUCTION_INSTANCE = REPOSITORY / "deploy" / "production" / "dagster.yaml"
# What `dagster dev` must not say on a clean start in the checkout.
NOISE = ("DAGSTER_PG", "Found a dagster instance configuration", "Telemetry", "BetaWarning", "Traceback")


def test_the_checkouts_dagster_yaml_and_workspace_are_the_ones_the_revolt_command_uses() -> None:
    assert (REPOSITORY / "dagster.yaml").resolve() == INSTANCE_FILE.resolve()
    assert (REPOSITORY / "workspace.yaml").resolve() == WORKSPACE_FILE.resolve()
    embedded = yaml.safe_load(INSTANCE_FILE.read_text())
    production = yaml.safe_load(PRODUCTION_INSTANCE.read_text())
    for config in (embedded, production):
        assert config["telemetry"] == {"enabled": False}
        assert config["nux"] == {"enabled": False}
        assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "storage" not in embedded  # SQLite under DAGSTER_HOME: nothing to set
    assert "postgres" in production["storage"]


@pytest.mark.timeout(300)
def test_dagster_dev_in_the_checkout_starts_with_nothing_set(tmp_path: Path) -> None:
    before = checkout_state()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_environment(REVOLT_HOME=str(tmp_path / "revolt"), REVOLT_PARTITIONS_START="2026-11-01")
    log = tmp_path / "dagster-dev.log"
    command = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)]
    with process_group(command, env, log) as ui:
        wait_for_webserver(url, ui, log)
        state = graphql(url, UI_STATE)
        # What it printed while starting and serving. Not its shutdown: stopping the group can end the code
        # server before the daemon, whose sensor tick in between then logs "Could not reach user code server".
        output = tail(log, 400)
    assert location_errors(state) == []
    assert state["shouldShowNux"] is False, "the UI opens on Dagster's welcome dialog"
    assert [word for word in NOISE if word in output] == [], output
    # Its temporary home in the checkout is gone with it.
    assert checkout_state() == before


def test_production_dagster_yaml_stores_runs_in_postgres(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(postgres_server.create_database("dagster_instance"))
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port))
    monkeypatch.setenv("DAGSTER_PG_DB", url.database or "")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", url.username or "")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    shutil.copy(PRODUCTION_INSTANCE, tmp_path / "dagster.yaml")

    @dg.asset
    def answer() -> int:
        return 42

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert not instance.nux_enabled and not instance.telemetry_enabled
        result = dg.materialize([answer], instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
        assert instance.get_latest_materialization_event(dg.AssetKey("answer")) is not None


def test_the_readme_gives_the_production_path_the_acceptance_test_follows() -> None:
    """test_daemon_cascade follows these commands; the README must not drift from them."""
    readme = (REPOSITORY / "README.md").read_text()
    for command in (
        "-f deploy/production/databases.sql",
        "cp deploy/production/dagster.yaml /var/lib/revolt/dagster/",
        "export DAGSTER_HOME=/var/lib/revolt/dagster",
        "dagster-daemon run -w workspace.yaml",
        "revolt launch report_job --from",
        "revolt launch catalog_job --from",
        "revolt ui",
    ):
        assert command in readme, command
    assert "DAGSTER_HOME=/path/to/this/checkout" not in readme  # Dagster would write into the work tree
