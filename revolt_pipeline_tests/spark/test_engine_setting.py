"""`REVOLT_ENGINE` picks the engine in one place: read and checked by the settings, mapped by `layers/engines.py`."""

import os
from pathlib import Path

import pytest

from revolt_pipeline.layers.engines import engine_connections
from revolt_pipeline.settings import Settings, SettingsError


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    return monkeypatch


def test_duckdb_is_the_default_engine(clean_environment: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    assert (settings.engine, settings.spark_master) == ("duckdb", "local[2]")


def test_the_engine_is_read_from_the_environment(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("REVOLT_ENGINE", " Spark ")
    clean_environment.setenv("REVOLT_SPARK_MASTER", "local[1]")
    settings = Settings.from_env()
    assert (settings.engine, settings.spark_master) == ("spark", "local[1]")


def test_an_unknown_engine_is_refused_naming_the_variable(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("REVOLT_ENGINE", "flink")
    with pytest.raises(SettingsError, match="REVOLT_ENGINE must be one of duckdb, spark, got 'flink'"):
        Settings.from_env()


def test_the_duckdb_engine_opens_duckdb_for_every_layer() -> None:
    with engine_connections("duckdb") as engines, engines.connect() as connection, engines.raw_connect() as raw:
        assert connection.execute("SELECT 42").fetchone() == (42,)
        assert raw.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_an_unknown_engine_has_no_connections() -> None:
    with pytest.raises(ValueError, match="unknown engine 'flink'"), engine_connections("flink"):
        pass
