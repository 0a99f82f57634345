"""Settings flow one way: the definitions are whatever `build_definitions` is given, never the environment."""

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.settings import Settings


def raw_events_config_default(definitions: dg.Definitions, field: str) -> object:
    config = definitions.resolve_assets_def("raw_events").op.config_schema.config_type
    return config.fields[field].default_value


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", "token")
    return Settings.from_env()


def test_two_settings_in_one_process_give_two_sets_of_definitions(base: Settings) -> None:
    march = build_definitions(
        replace(base, partitions_start="2026-03-01", watermark_retries=2, watermark_retry_seconds=5.0, lateness_days=1)
    )
    june = build_definitions(replace(base, partitions_start="2026-06-01", lateness_days=7))

    assert march.resolve_assets_def("events").partitions_def.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert june.resolve_assets_def("events").partitions_def.start == datetime(2026, 6, 1, tzinfo=UTC)
    assert raw_events_config_default(march, "watermark_retries") == 2
    assert raw_events_config_default(march, "watermark_retry_seconds") == 5.0
    assert raw_events_config_default(june, "watermark_retries") == base.watermark_retries
    for definitions, lateness in ((march, 1), (june, 7)):
        mapping = definitions.resolve_assets_def("events").get_partition_mapping(dg.AssetKey("raw_events"))
        assert (mapping.start_offset, mapping.end_offset) == (-1, lateness)
        assert definitions.resolve_assets_def("events").metadata_by_key[dg.AssetKey("events")][
            "rules/lateness_days"
        ] == float(lateness)


def test_python_names_are_the_names_dagster_shows(base: Settings) -> None:
    from revolt_pipeline.defs.raw import schedules

    assert schedules.raw_job_schedule.name == "raw_job_schedule"
    definitions = build_definitions(base)
    events = definitions.resolve_assets_def("events")
    assert events.op.name == "events" and set(events.keys) == {dg.AssetKey("events"), dg.AssetKey("events_quarantine")}
