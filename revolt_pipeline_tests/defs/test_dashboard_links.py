"""Every report asset and report table has a dashboard page to link to, and every such page exists (the links
themselves, materialized, are tested on the fast demo's lake: revolt_pipeline_tests/demo/test_fast_demo.py)."""

from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.dashboard.urls import PAGES, REPORT_PAGES
from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.reports import schema
from revolt_pipeline.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "REVOLT_HOME": str(tmp_path),
        "REVOLT_ADMIN_TOKEN": "token",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def report_assets(definitions: dg.Definitions) -> dict[str, str]:
    """Every asset that is a report table (it names one in `dagster/table_name`) -> its table."""
    return {
        spec.key.to_user_string(): spec.metadata["dagster/table_name"]
        for spec in definitions.resolve_all_asset_specs()
        if "dagster/table_name" in spec.metadata
    }


def test_every_report_asset_and_table_has_a_page_that_exists(settings: Settings) -> None:
    assets = report_assets(build_definitions(settings))
    assert set(assets.values()) == set(schema.metadata.tables), "a report table without an asset, or the reverse"
    assert set(REPORT_PAGES) == set(schema.metadata.tables), "REPORT_PAGES must name exactly the report tables"
    assert set(REPORT_PAGES.values()) <= set(PAGES)
    assert "person" not in REPORT_PAGES.values()  # a table's page needs no person
