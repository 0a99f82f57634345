"""`revolt demo` end to end: the report tables equal what the traffic generator knows happened."""

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.demo.pipeline import DemoResult, run_demo
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection, sql_list
from revolt_pipeline_tests.fixtures.collector import read_landed
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.pipeline.harness import pipeline_environment

START = date(2026, 11, 2)
USERS = 40


def demo(settings: Settings) -> DemoResult:
    return run_demo(settings, seed=3, users=USERS, days=7, start=START, say=lambda text: None)


def report_rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine, read_rows

    engine = create_engine(settings.report_db_url)
    try:
        return {table.name: read_rows(engine, table) for table in schema.metadata.sorted_tables}
    finally:
        engine.dispose()


def lake_counts(settings: Settings, area: str, group: str | None = None) -> Counter:
    store = ObjectStore(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    keys = [info.key for info in store.list(area) if info.key.endswith(".parquet")]
    local = [store.local_path(key) for key in keys]
    with duckdb_connection(threads=1) as connection:
        if group is None:
            return Counter(
                {"rows": connection.execute(f"SELECT count(*) FROM read_parquet({sql_list(local)})").fetchone()[0]}
            )
        rows = connection.execute(
            f"SELECT {group}, count(*) FROM read_parquet({sql_list(local)}) GROUP BY 1"
        ).fetchall()
    return Counter(dict(rows))


def test_demo_reports_equal_the_ground_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pipeline_environment(monkeypatch, tmp_path)
    result = demo(settings)
    truth = result.truth
    rows = report_rows(settings)
    dau = {r["event_date"].isoformat(): r["active_users"] for r in rows["daily_active_users"] if r["platform"] == "all"}
    sessions = {r["session_date"].isoformat(): r["sessions"] for r in rows["sessions_daily"] if r["platform"] == "all"}
    events = Counter()
    for row in rows["events_daily"]:
        if row["platform"] == "all":
            events[row["event_date"].isoformat()] += row["events"]
    for day, expected in truth["days"].items():
        assert dau[day] == expected["daily_active_users"], day
        assert sessions[day] == expected["sessions"], day
        assert events[day] == expected["events"], day  # duplicates counted once
    assert sum(sessions.values()) == truth["totals"]["sessions"]
    assert all(value == 0 for day, value in dau.items() if day not in truth["days"])

    totals = truth["totals"]
    assert lake_counts(settings, "raw_events")["rows"] == totals["messages_sent"]
    assert lake_counts(settings, "events")["rows"] == totals["on_time_unique"]
    quarantined = lake_counts(settings, "events_quarantine", "reason")
    assert set(quarantined) == {"duplicate", "too_late"}
    assert quarantined["too_late"] >= totals["too_late"] > 0  # a late message delivered twice is late twice
    assert sum(quarantined.values()) == totals["messages_sent"] - totals["on_time_unique"]
    store = ObjectStore(settings.storage_url)
    refused = Counter(record["reason"] for record in read_landed(store, "quarantine"))
    assert refused == totals["malformed_by_reason"]

    # Every asset check of every run passed, reconciliation included (WARN drift checks may flag).
    for run_id in result.run_ids.values():
        from dagster import DagsterEventType, DagsterInstance

        with DagsterInstance.from_config(str(result.instance_home)) as instance:
            for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
                evaluation = record.dagster_event.asset_check_evaluation_data
                if evaluation.check_name != "no_schema_drift":
                    assert evaluation.passed, (evaluation.asset_key, evaluation.check_name)


def test_s3_and_postgres_give_the_same_report_rows_as_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: S3Bucket, postgres_url: str
) -> None:
    embedded = pipeline_environment(monkeypatch, tmp_path / "embedded")
    demo(embedded)
    expected = report_rows(embedded)
    production = pipeline_environment(
        monkeypatch,
        tmp_path / "production",
        REVOLT_STORAGE_URL=s3_bucket.url("lake"),
        REVOLT_S3_ENDPOINT_URL=s3_bucket.endpoint_url,
        REVOLT_REPORT_DB_URL=postgres_url,
    )
    demo(production)
    assert report_rows(production) == expected
    assert all(expected[table] for table in expected)
    store = ObjectStore(production.storage_url, s3_endpoint_url=production.s3_endpoint_url)
    assert any(info.key.startswith("events/event_date=") for info in store.list("events"))


def test_the_demo_command_refuses_to_mix_with_a_previous_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline_environment(monkeypatch, tmp_path)
    (tmp_path / "store" / "landing").mkdir(parents=True)
    result = CliRunner().invoke(main, ["demo", "--users", "5"])
    assert result.exit_code != 0
    assert "revolt demo --reset" in result.output
