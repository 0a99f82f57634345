"""The demo's traffic through every layer into `person_days` and `people`, on SQLite and on PostgreSQL: both equal
what the traffic generator knows (`demo.generator.people_truth`), computed from its plan without SQL. The lake is
the session's `demo_lake` (conftest.py), built once by the layer library."""

from typing import Any

import pytest
import sqlalchemy as sa

from revolt_pipeline.demo.generator import ground_truth
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline_tests.pipeline.conftest import DemoLake

pytestmark = pytest.mark.xdist_group("demo_lake")


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def test_person_days_and_people_equal_the_ground_truth(demo_lake: DemoLake, report_url: str) -> None:
    truth = ground_truth(demo_lake.traffic)
    rows = demo_lake.load(report_url)
    person_days, people = rows[schema.person_days.name], rows[schema.people.name]
    engine = create_engine(report_url)
    try:
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
