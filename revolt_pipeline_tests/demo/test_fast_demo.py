"""`revolt demo --fast`: the demo's plan written into the cleaned layer and built by the layer library gives the
ground truth's numbers, and, loaded again by the Dagster jobs, each report asset's metadata links to its dashboard
page (REVOLT_DASHBOARD_URL) showing the partition's day (a weekly funnel table: its week)."""

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.dashboard.screenshot import CHROMIUM
from revolt_pipeline.dashboard.urls import REPORT_PAGES, page_url
from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.cascade import partition_range_tags
from revolt_pipeline.demo.fast import FastDemo, run_fast_demo, summarize_fast_demo
from revolt_pipeline.demo.generator import ground_truth, plan_traffic
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.defs.test_dashboard_links import report_assets
from revolt_pipeline_tests.fixtures.services import unavailable
from revolt_pipeline_tests.pipeline.harness import QUIET

DASHBOARD = "http://dashboard.test:8123/revolt"
START = date(2026, 9, 7)  # a Monday
DAY = START + timedelta(days=1)
# Loaded by the week (the partition's ISO week, committed under its Monday); the weekly lifecycle and retention
# are loaded by the day, which reopens its week's rows.
WEEKLY = {"funnel_steps_weekly", "funnel_steps_weekly_by_platform"}
# Report assets the jobs below do not load from a three-day lake: the models need weeks of history (their loading
# goes through the same `load_report_table`), and event_catalog a raw layer, which the fast demo does not write.
NOT_MATERIALIZED = {"event_catalog", "churn_scores", "recommendations", "person_segments", "segment_sizes"}


@dataclass(frozen=True)
class FastLake:
    settings: Settings
    truth: dict[str, Any]
    built: FastDemo


@pytest.fixture(scope="module")
def fast_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastLake]:
    home = tmp_path_factory.mktemp("fast-demo")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "REVOLT_HOME": str(home),
            "REVOLT_ADMIN_TOKEN": "token",
            "REVOLT_PARTITIONS_START": "2026-09-01",
            "REVOLT_DASHBOARD_URL": DASHBOARD + "/",  # a trailing slash is not doubled
        }.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
    traffic = plan_traffic(seed=7, users=30, days=3, start=START)
    yield FastLake(settings, ground_truth(traffic), run_fast_demo(settings, traffic))


def test_the_fast_demo_reports_the_ground_truth(fast_lake: FastLake) -> None:
    engine = create_engine(fast_lake.settings.report_db_url)
    try:
        actives = {row["event_date"].isoformat(): row for row in read_rows(engine, schema.active_users_daily)}
        dau = {
            row["event_date"].isoformat(): row["active_users"] for row in read_rows(engine, schema.daily_active_users)
        }
        sessions = {
            row["session_date"].isoformat(): row["sessions"] for row in read_rows(engine, schema.sessions_daily)
        }
        events: Counter = Counter()
        for row in read_rows(engine, schema.events_daily):
            events[row["event_date"].isoformat()] += row["events"]
        people = read_rows(engine, schema.people)
    finally:
        engine.dispose()
    days = fast_lake.truth["days"]
    assert [day.isoformat() for day in fast_lake.built.event_days] == sorted(days)
    for day, expected in days.items():
        assert dau[day] == actives[day]["dau"] == expected["daily_active_users"], day
        assert actives[day]["wau"] == expected["weekly_active_users"], day
        assert actives[day]["mau"] == expected["monthly_active_users"], day
        assert actives[day]["new_users"] == expected["new_users"], day
        assert sessions[day] == expected["sessions"], day
        assert events[day] == expected["events"], day
    assert sum(sessions.values()) == fast_lake.truth["totals"]["sessions"]
    assert len(people) == sum(expected["new_users"] for expected in days.values())
    assert fast_lake.built.models_as_of is None  # three days: too short for the models
    summary = summarize_fast_demo(fast_lake.built)
    # Three days of the people's local time reach from the day before in UTC to the day after.
    assert summary[0].startswith(f"built {len(days)} event days, {min(days)} to {max(days)}")
    assert "no models" in summary[2]


def test_report_assets_link_to_their_page_for_the_partitions_days(fast_lake: FastLake) -> None:
    settings = fast_lake.settings
    assert settings.dashboard_url == DASHBOARD
    definitions = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    for job in ("report_job", "people_job", "funnels_job"):
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance,
            tags=partition_range_tags(DAY.isoformat(), DAY.isoformat()),
            run_config=QUIET,
            raise_on_error=False,
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
    assert links["funnel_steps_weekly_by_platform"] == f"{DASHBOARD}/funnels?from=2026-09-07&to=2026-09-13"
    assert links["person_days"] == f"{DASHBOARD}/people?from=2026-09-08&to=2026-09-08"


def test_more_than_sixty_days_need_fast(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--days", "61"], env={"REVOLT_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "--days 61" in result.output and "add --fast" in result.output
    assert not any(tmp_path.iterdir())  # refused before anything was planned or written


def test_the_screenshot_command_saves_the_overview_of_the_report_database(fast_lake: FastLake, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    out = tmp_path / "img" / "overview.png"
    env = {"REVOLT_HOME": str(fast_lake.settings.home), "REVOLT_DASHBOARD_TOKEN": "a token the screenshot needs not"}
    result = CliRunner().invoke(main, ["dashboard-screenshot", "--from-settings", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert f"saved the overview page (/) as {out}" in result.output
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the first screenful
    assert (width, height) == (1280, 900)

    missing = CliRunner().invoke(
        main,
        ["dashboard-screenshot", "--from-settings", "--out", str(out), "--browser", str(tmp_path / "none")],
        env=env,
    )
    assert missing.exit_code == 1 and "is missing (Debian: apt-get install chromium" in missing.output
