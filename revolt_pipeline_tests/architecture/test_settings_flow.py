"""Settings flow one way: read from the environment once, where a process starts, then passed down as values."""

import ast
import dataclasses
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from revolt_pipeline.collector.service import CollectorConfig
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.settings import PARTITIONS_DEFAULT_DAYS, Settings
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.architecture.test_import_rules import PACKAGE

# Besides the settings: the SDK reads the host's locale and time zone to describe the device in events'
# context, `instance/launch.py` hands the environment on to the Dagster commands it starts, and `transforms/spark.py`
# reads what a local Spark driver's JVM will read itself (JDK_JAVA_OPTIONS, JAVA_TOOL_OPTIONS, SPARK_CONF_DIR), to
# leave out its own Java options where the user chose others.
READS_THE_HOST_ENVIRONMENT = {"settings.py", "sdk/context.py", "instance/launch.py", "transforms/spark.py"}
ENTRY_POINTS = {"definitions.py", "cli.py"}
# Still read the settings at import; issue 7 moves them into build_definitions. Empty it as they go.
FROM_ENV_NOT_YET_REMOVED: set[str] = set()


def modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(PACKAGE)), ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The settings of a clean environment: nothing REVOLT_* set but a throwaway home."""
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    return Settings.from_env()


def test_no_module_reads_the_environment_but_the_settings() -> None:
    names = ("environ", "environb", "getenv", "getenvb")
    readers = {
        module
        for module, tree in modules()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in names)
        or (isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in names for a in node.names))
    }
    assert readers == READS_THE_HOST_ENVIRONMENT


def test_settings_are_read_only_where_a_process_starts() -> None:
    callers = {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "from_env"
    } - {"settings.py"}
    assert callers <= ENTRY_POINTS | FROM_ENV_NOT_YET_REMOVED
    assert callers >= ENTRY_POINTS


def test_the_duckdb_memory_limit_setting_reaches_the_assets_connections(settings: Settings) -> None:
    """Given as a value, with nothing in the environment: the engine no longer reads it from there."""
    settings = dataclasses.replace(settings, duckdb_memory_limit="1GB", admin_token="token")
    lake = build_resources(settings)["lake"]
    with lake.duckdb() as connection:
        assert connection.execute("SELECT current_setting('memory_limit')").fetchone() == ("953.6 MiB",)


def test_the_assets_open_duckdb_through_the_lake_resource_which_holds_the_limit() -> None:
    """A connection opened directly, without the setting, would ignore REVOLT_DUCKDB_MEMORY_LIMIT."""
    direct = {
        module
        for module, tree in modules()
        if module.startswith("defs/") and module != "defs/lake/resources.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr) == "duckdb_connection"
    }
    assert direct == set(), "open the assets' connections with `lake.duckdb()`"


def test_the_duckdb_memory_limit_is_read_from_the_environment_by_the_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.duckdb_memory_limit == "1500MB"
    monkeypatch.setenv("REVOLT_DUCKDB_MEMORY_LIMIT", "2GB")
    assert Settings.from_env().duckdb_memory_limit == "2GB"


def test_the_object_store_is_built_once_from_the_settings(settings: Settings) -> None:
    settings = dataclasses.replace(settings, admin_token="token")
    assert settings.store is settings.store
    assert settings.store.url == settings.storage_url
    assert CollectorConfig.from_settings(settings).store is settings.store
    s3 = dataclasses.replace(settings, storage_url="s3://bucket/prefix", s3_endpoint_url="http://127.0.0.1:9")
    assert s3.store.url == "s3://bucket/prefix" and not s3.store.is_local
    assert settings.store is not s3.store


def test_unset_settings_give_the_defaults_of_what_they_configure(settings: Settings) -> None:
    """One set of defaults: the collector's configuration types and the pipeline rules agree with the settings."""
    settings = dataclasses.replace(settings, admin_token="token")
    from_settings = CollectorConfig.from_settings(settings)
    defaults = CollectorConfig(
        spool_dir=settings.spool_dir,
        store=settings.store,
        sources_file=settings.sources_file,
        admin_token="token",
        privacy_salt=settings.resolved_privacy_salt(),
    )
    assert from_settings == defaults
    rules = PipelineRules()
    assert timedelta(days=settings.lateness_days) == rules.lateness
    assert timedelta(minutes=settings.session_timeout_minutes) == rules.session_timeout
    assert timedelta(hours=settings.max_session_hours) == rules.max_session_length
    assert settings.mau_window_days == rules.mau_window_days


def test_the_default_first_partition_is_recorded_once_so_days_never_slide_out(
    settings: Settings, tmp_path: Path
) -> None:
    """A fresh home starts its partitions PARTITIONS_DEFAULT_DAYS back and keeps that day on later starts,
    whatever today is then; REVOLT_PARTITIONS_START still overrides it."""
    fresh = date.fromisoformat(settings.partitions_start)
    assert fresh == datetime.now(UTC).date() - timedelta(days=PARTITIONS_DEFAULT_DAYS)
    recorded = tmp_path / "partitions-start"
    assert recorded.read_text().strip() == settings.partitions_start
    assert recorded.stat().st_mode & 0o777 == 0o600

    recorded.write_text("2026-02-03\n")  # as if first used months ago
    assert Settings.from_env().partitions_start == "2026-02-03"


def test_a_recorded_first_partition_that_is_no_day_is_refused_by_name(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "partitions-start").write_text("last tuesday\n")
    with pytest.raises(ValueError, match="partitions-start must hold a day"):
        Settings.from_env()


def test_a_set_first_partition_wins_over_the_recorded_one(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVOLT_PARTITIONS_START", "2026-05-01")
    assert Settings.from_env().partitions_start == "2026-05-01"


def test_the_lake_resource_opens_the_store_the_settings_name(settings: Settings) -> None:
    """Dagster shows the resource's fields, so it builds its own store from them: the same store as the
    settings', with no default of its own."""
    s3 = dataclasses.replace(
        settings,
        admin_token="token",
        storage_url="s3://bucket/prefix",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_region="eu-west-3",
    )
    lake = build_resources(s3)["lake"]
    assert (lake.store.url, lake.store.is_local) == (s3.store.url, s3.store.is_local)
    assert (lake.url, lake.s3_endpoint_url, lake.s3_region) == (s3.storage_url, s3.s3_endpoint_url, s3.s3_region)
    assert LakeResource(url=s3.storage_url).s3_region == Settings.s3_region
