"""The demo's traffic through every layer into `person_sessions`, on SQLite and on PostgreSQL: each person's
sessions (start, end, events, platform, app version) equal the ones the traffic generator planned
(`demo.generator.ground_truth`'s sessions, computed from its plan without SQL), keyed by the stitched person."""

from datetime import UTC, datetime
from typing import Any

import pytest

from revolt_pipeline.reports import schema
from revolt_pipeline_tests.pipeline.conftest import DemoLake

pytestmark = pytest.mark.xdist_group("demo_lake")


def _instant(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def test_person_sessions_equal_the_planned_sessions(demo_lake: DemoLake, report_url: str) -> None:
    rows = demo_lake.load(report_url)[schema.person_sessions.name]
    got = sorted(
        (row["person_id"], _instant(row["session_start"]), _instant(row["session_end"]), row["events"],
         row["platform"], row["app_version"], _instant(row["session_start"])[:10] == str(row["session_date"]))
        for row in rows
    )  # fmt: skip
    planned = sorted(
        (s["person"], _instant(s["start"]), _instant(s["end"]), s["events"], s["platform"], s["app_version"], True)
        for s in demo_lake.truth["sessions"]
    )
    assert len(got) == len(planned) > 0
    assert got == planned
    assert len({(row["session_date"], row["session_id"]) for row in rows}) == len(rows)
