"""The shipped dagster.yaml gives a working instance on PostgreSQL."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import make_url

from revolt_pipeline_tests.fixtures.postgres import PostgresServer

REPOSITORY = Path(__file__).resolve().parents[2]


def test_dagster_yaml_stores_runs_in_postgres(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(postgres_server.create_database("dagster_instance"))
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port))
    monkeypatch.setenv("DAGSTER_PG_DB", url.database or "")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", url.username or "")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    shutil.copy(REPOSITORY / "dagster.yaml", tmp_path / "dagster.yaml")

    @dg.asset
    def answer() -> int:
        return 42

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = dg.materialize([answer], instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
        assert instance.get_latest_materialization_event(dg.AssetKey("answer")) is not None
