"""Funnels through Dagster: the cascade after cleaning and after a late identify, the assets' metadata and checks."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, rfc3339, running_pipeline, track
from revolt_pipeline_tests.pipeline.test_people_cascade import deliver
from revolt_pipeline_tests.transforms.test_funnels import SIGNUP

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    (tmp_path / "funnels.toml").write_text(SIGNUP)
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, START) as running:
        yield running


def page(message_id: str, anonymous_id: str, name: str, moment: datetime) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "name": name,
        "originalTimestamp": rfc3339(moment),
    }


def reached(pipeline: Pipeline, day: str) -> list[int]:
    engine = create_engine(pipeline.settings.report_db_url)
    try:
        rows = read_rows(engine, schema.funnel_steps_daily)
    finally:
        engine.dispose()
    return [row["reached"] for row in sorted(rows, key=lambda r: r["step"]) if row["event_date"].isoformat() == day]


@pytest.mark.slow
def test_a_late_identify_days_later_reopens_the_funnel_day_of_the_anonymous_visit(pipeline: Pipeline) -> None:
    """Home and Pricing anonymously, then Signup Started and Signed Up as ada (server side) on the 16th; the
    identify linking them is sent on the 20th: beyond the window's reach, only the re-stitch reopens the 16th."""
    day = START.date()
    runs = deliver(
        pipeline,
        day,
        [
            page("h1", "anon-1", "Home", START),
            page("p1", "anon-1", "Pricing", START + timedelta(minutes=2)),
            track("s1", "ada", START + timedelta(minutes=5), "Signup Started", properties={"plan": "team"}),
            track("s2", "ada", START + timedelta(minutes=6), "Signed Up"),
        ],
    )
    assert ("funnels_job", ("2026-11-14", "2026-11-17")) in runs  # the days sessionized, and the day before
    assert reached(pipeline, "2026-11-16") == [1, 1, 0, 0]
    progress = pipeline.metadata("funnel_progress", "2026-11-16")
    assert progress["dagster/row_count"] == 1 and progress["entered"] == {"signup": 1}

    for later in range(1, 4):  # other people on the days in between (people are built day after day)
        moment = START + timedelta(days=later)
        deliver(pipeline, moment.date(), [track(f"b{later}", "bob", moment)])
    identify = {
        "type": "identify",
        "messageId": "i1",
        "userId": "ada",
        "anonymousId": "anon-1",
        "originalTimestamp": rfc3339(START + timedelta(days=4)),
    }
    runs = deliver(pipeline, day + timedelta(days=4), [identify])
    assert ("funnels_job", ("2026-11-18", "2026-11-21")) in runs  # after cleaning: not the 16th
    assert ("funnels_job", ("2026-11-16", "2026-11-21")) in runs  # funnels_after_restitch
    assert reached(pipeline, "2026-11-16") == [1, 1, 1, 1]
    evaluations = [
        record.dagster_event.asset_check_evaluation_data
        for run in pipeline.instance.get_runs(dg.RunsFilter(job_name="funnels_job"))
        for record in pipeline.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    assert ("funnel_steps_weekly", "funnel_steps_consistent") in names and len(names) == 11
    assert ("funnel_steps_weekly_by_platform", "funnel_steps_consistent") in names
    assert ("funnel_steps_daily_by_app_version", "funnel_steps_consistent") in names
    assert ("funnel_progress", "funnel_progress_consistent") in names
    assert all(e.passed for e in evaluations)
    assert pipeline.follow_cascade() == []


def test_without_a_funnels_file_the_assets_run_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, START) as pipeline:
        deliver(pipeline, START.date(), [track("t1", "ada", START)])
        progress = pipeline.metadata("funnel_progress", "2026-11-16")
        assert progress["dagster/row_count"] == 0 and "no funnels configured" in progress["funnels"]
        assert reached(pipeline, "2026-11-16") == []
