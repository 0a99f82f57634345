"""The demo's traffic through every layer into `person_days` and `people`, on SQLite and on PostgreSQL: both equal
what the traffic generator knows (`demo.generator.people_truth`), computed from its plan without SQL."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from revolt_pipeline.demo.generator import ground_truth
from revolt_pipeline.demo.run import run_demo_traffic
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.pipeline.harness import pipeline_environment

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]


@pytest.fixture(params=BACKENDS)
def report_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield (
        f"sqlite:///{tmp_path / 'reports.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def test_person_days_and_people_equal_the_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report_url: str
) -> None:
    settings = pipeline_environment(monkeypatch, tmp_path, REVOLT_REPORT_DB_URL=report_url)
    traffic = run_demo_traffic(
        settings, seed=5, users=40, days=7, start=None, collector_url=None, ground_truth_path=None
    ).traffic
    truth = ground_truth(traffic)
    first, last = traffic.messages[0].send_time.date(), traffic.end.date()
    received = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    engine = create_engine(report_url)
    try:
        ensure_tables(engine)
        (tmp_path / "work").mkdir()
        DayBuilder(settings.store, PipelineRules(), tmp_path / "work").every_layer(received, engine)
        person_days = read_rows(engine, schema.person_days)
        people = read_rows(engine, schema.people)
        with engine.connect() as connection:
            distinct = connection.execute(sa.text("SELECT count(DISTINCT person_id) FROM person_days")).scalar()
    finally:
        engine.dispose()

    got_days: dict[str, dict[str, dict[str, int]]] = {}
    for row in person_days:
        got_days.setdefault(_day(row["event_date"]), {})[row["person_id"]] = {
            "events": row["events"],
            "sessions": row["sessions"],
        }
    assert got_days == truth["person_days"]
    assert distinct == len(truth["people"])  # exact distinct people over the whole period
    got_people = {
        row["person_id"]: {
            "first_seen": _day(row["first_seen"]),
            "last_seen": _day(row["last_seen"]),
            "events": row["events"],
            "sessions": row["sessions"],
            "days_active": row["days_active"],
        }
        for row in people
    }
    assert got_people == truth["people"]
    (as_of,) = {_day(row["snapshot_date"]) for row in people}  # one snapshot, the latest day built
    assert as_of >= max(got_days)
