"""Each report asset's metadata in the Dagster UI links to its page on the dashboard (REVOLT_DASHBOARD_URL), showing
the partition's day (a weekly table's: its week); every report table has a page, and every such page exists."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.dashboard.urls import PAGES, REPORT_PAGES, page_url
from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.cascade import partition_range_tags
from revolt_pipeline.demo.fast import run_fast_demo
from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.reports import schema
from revolt_pipeline.settings import Settings

DASHBOARD = "http://dashboard.test:8123/revolt"
START = date(2026, 9, 7)  # a Monday
DAY = START + timedelta(days=1)
# Loaded by the week (the partition's ISO week, committed under its Monday); the weekly lifecycle and retention
# are loaded by the day, which reopens its week's rows.
WEEKLY = {"funnel_steps_weekly"}
# Report assets the jobs below do not load from a three-day lake: the models need weeks of history (their loading
# goes through the same `load_report_table`), and event_catalog a raw layer, which the fast demo does not write.
NOT_MATERIALIZED = {"event_catalog", "churn_scores", "recommendations", "person_segments", "segment_sizes"}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "REVOLT_HOME": str(tmp_path),
        "REVOLT_ADMIN_TOKEN": "token",
        "REVOLT_PARTITIONS_START": "2026-09-01",
        "REVOLT_DASHBOARD_URL": DASHBOARD + "/",  # a trailing slash is not doubled
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


def test_report_assets_link_to_their_page_for_the_partitions_days(settings: Settings) -> None:
    assert settings.dashboard_url == DASHBOARD
    run_fast_demo(settings, plan_traffic(seed=7, users=30, days=3, start=START))
    definitions = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    for job in ("report_job", "people_job", "funnels_job"):
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, tags=partition_range_tags(DAY.isoformat(), DAY.isoformat()), raise_on_error=False
        )
        assert result.success, f"{job} failed"

    links, unlinked = {}, set()
    for asset, table in report_assets(definitions).items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[DAY.isoformat()]), limit=1
        ).records
        if not records:
            unlinked.add(asset)
            continue
        metadata = records[0].asset_materialization.metadata
        assert isinstance(metadata.get("dashboard"), dg.UrlMetadataValue), (asset, sorted(metadata))
        links[table] = metadata["dashboard"].value
    assert unlinked == NOT_MATERIALIZED
    # The people table is the latest snapshot whatever the partition: its page, every day.
    assert links.pop("people") == f"{DASHBOARD}/people"
    for table, link in links.items():
        first, last = (START, START + timedelta(days=6)) if table in WEEKLY else (DAY, DAY)
        assert link == page_url(DASHBOARD, REPORT_PAGES[table], from_=first.isoformat(), to=last.isoformat())
    assert links["active_users_daily"] == f"{DASHBOARD}/?from=2026-09-08&to=2026-09-08"
    assert links["funnel_steps_weekly"] == f"{DASHBOARD}/funnels?from=2026-09-07&to=2026-09-13"
    assert links["person_days"] == f"{DASHBOARD}/people?from=2026-09-08&to=2026-09-08"
