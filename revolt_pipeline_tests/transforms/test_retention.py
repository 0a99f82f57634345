"""Lifecycle and retention, built by the layer library without Dagster: the states, the cells, late data."""

import gzip
import shutil
from contextlib import nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed

Rows = dict[str, dict[tuple, dict[str, Any]]]
KEYS = {
    "lifecycle_daily": ("event_date",),
    "lifecycle_weekly": ("week_start",),
    "retention_daily": ("cohort_date", "definition", "period"),
    "retention_weekly": ("cohort_week", "definition", "period"),
}


class Lakehouse:
    """A store and a report database that receive batches over time, built day by day as the cascade would."""

    def __init__(self, folder: Path, connection: Any, rules: PipelineRules = DEFAULT_RULES, segment: int = 0) -> None:
        new = not folder.exists()
        if new:
            folder.mkdir()
            (folder / "work").mkdir()
        self.folder, self.connection, self.rules = folder, connection, rules
        self.store = ObjectStore((folder / "store").as_uri())
        self.builder = DayBuilder(self.store, rules, folder / "work", connect=lambda: nullcontext(connection))
        self.engine = create_engine(f"sqlite:///{folder / 'reports.sqlite'}")
        if new:
            ensure_tables(self.engine)
        self.segment = segment

    def copy(self, folder: Path) -> "Lakehouse":
        """Another lakehouse in `folder`, as this one is now: for scenarios that share their first batches,
        which are then built once (copying the folder costs far less than building the days again)."""
        self.engine.dispose()  # closes the SQLite file, so the copy is whole
        shutil.copytree(self.folder, folder)
        return Lakehouse(folder, self.connection, self.rules, self.segment)

    def receive(self, records: list[dict[str, Any]], when: datetime) -> None:
        self.segment += 1
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        self.store.put(landed_object_key(LANDING, when, "c1", f"{self.segment:06d}"), gzip.compress(lines))
        self.builder.every_layer([when.date()], self.engine)

    def rebuild(self, day: date) -> None:
        """Run people_job again from `day` (through the last day built), as a re-run from the UI would."""
        built = self.builder.people_days([day])
        days = [built_day.day for built_day in self.builder.retention_days([d.day for d in built])]
        self.builder.active_user_reports(self.engine, days)
        self.builder.retention_reports(self.engine, days)

    def tables(self) -> Rows:
        return {
            name: {tuple(row[key] for key in keys): row for row in read_rows(self.engine, schema.metadata.tables[name])}
            for name, keys in KEYS.items()
        }


def _changed(before: Rows, after: Rows, ignore: tuple[str, ...] = ()) -> dict[str, set[tuple]]:
    """The keys of the rows that differ (added, removed or changed) per table, comparing all but `ignore`."""

    def strip(row: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if row is None else {k: v for k, v in row.items() if k not in ignore}

    return {
        name: {
            key
            for key in before[name].keys() | after[name].keys()
            if strip(before[name].get(key)) != strip(after[name].get(key))
        }
        for name in KEYS
    }


def _received(record: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(record["receivedAt"] / 1000, UTC)


def d(day: int) -> date:
    return date(2026, 11, day)


def test_lifecycle_sorts_the_people_of_each_day_and_week_into_four_states(tmp_path: Path) -> None:
    """u1 every day from Tuesday 3rd to 4th, back the next Tuesday; u2 on the 3rd only; u3 first on the 10th."""
    records = [
        landed("a", at("2026-11-03 10:00"), user_id="u1"),
        landed("b", at("2026-11-04 10:00"), user_id="u1"),
        landed("c", at("2026-11-03 11:00"), user_id="u2"),
        landed("e", at("2026-11-10 10:00"), user_id="u1"),
        landed("f", at("2026-11-10 11:00"), user_id="u3"),
    ]
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection)
        for record in records:
            lake.receive([record], _received(record))
        tables = lake.tables()
    daily = {key[0]: row for key, row in tables["lifecycle_daily"].items()}
    states = ("new_users", "returning_users", "resurrecting_users", "dormant_users")
    assert [daily[d(3)][s] for s in states] == [2, 0, 0, 0]
    assert [daily[d(4)][s] for s in states] == [0, 1, 0, 1]  # u1 returns, u2 goes dormant
    assert [daily[d(5)][s] for s in states] == [0, 0, 0, 1]
    assert [daily[d(10)][s] for s in states] == [1, 0, 1, 0]  # u3 new, u1 resurrects
    weekly = {key[0]: row for key, row in tables["lifecycle_weekly"].items()}
    week = weekly[d(9)]  # Monday the 9th, as of the last day built
    assert [week[s] for s in states] == [1, 1, 0, 1]  # u3 new, u1 returning, u2 dormant
    assert (week["active_users"], week["previous_active_users"]) == (2, 2)
    assert week["as_of"] == max(daily) and week["final"] is False
    assert weekly[d(2)]["final"] is True and weekly[d(2)]["as_of"] == d(8)


def test_retention_counts_exact_periods_and_later_ones_for_day_and_week_cohorts(tmp_path: Path) -> None:
    records = [
        landed("s1", at("2026-11-03 10:00"), user_id="u1", event="Signed Up"),
        landed("s2", at("2026-11-03 11:00"), user_id="u2", event="Signed Up"),
        landed("r1", at("2026-11-05 10:00"), user_id="u1", event="Timer Started"),
        landed("v1", at("2026-11-05 10:00"), user_id="u2", event="Report Viewed"),
        landed("r2", at("2026-11-11 10:00"), user_id="u2", event="Timer Started"),
        landed("s3", at("2026-11-11 12:00"), user_id="u1", event="Signed Up"),  # a second start opens no cohort
    ]
    rules = PipelineRules(retention_start_event="Signed Up", retention_return_event="Timer Started")
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection, rules)
        for record in records:
            lake.receive([record], _received(record))
        tables = lake.tables()

    def cells(table: str, cohort: date, definition: str) -> list[tuple[int, int, int]]:
        rows = sorted((k[2], r) for k, r in tables[table].items() if k[0] == cohort and k[1] == definition)
        return [(r["cohort_size"], r["retained"], r["retained_or_later"]) for _, r in rows]

    # first_seen: both active on the 3rd, the 5th and the 11th (period 8).
    first_seen = cells("retention_daily", d(3), "first_seen")
    assert first_seen[:3] == [(2, 2, 2), (2, 0, 2), (2, 2, 2)]
    assert all(cell == (2, 0, 2) for cell in first_seen[3:8])
    assert first_seen[8] == (2, 2, 2)
    assert first_seen[9:] and all(cell == (2, 0, 0) for cell in first_seen[9:])  # through the last day built
    # Anchored: started on the 3rd; u1 returned (Timer Started) on the 5th, u2 on the 11th.
    anchored = cells("retention_daily", d(3), "anchored")
    assert anchored[0] == (2, 0, 2) and anchored[2] == (2, 1, 2) and anchored[8] == (2, 1, 1)
    assert not any(key[0] == d(11) for key in tables["retention_daily"] if key[1] == "anchored")
    row = tables["retention_daily"][(d(3), "anchored", 2)]
    assert (row["start_event"], row["return_event"], row["final"]) == ("Signed Up", "Timer Started", False)
    # Week cohorts: the week of Monday the 2nd; week 1 holds the 11th.
    assert cells("retention_weekly", d(2), "first_seen") == [(2, 2, 2), (2, 2, 2)]
    assert cells("retention_weekly", d(2), "anchored") == [(2, 1, 2), (2, 1, 1)]
    assert tables["retention_weekly"][(d(2), "first_seen", 0)]["period_complete"] is True
    assert tables["retention_weekly"][(d(2), "first_seen", 1)]["period_complete"] is False


def _late_event_lakes(folder: Path, connection: Any) -> dict[bool | None, Rows]:
    """u1 every day from the 10th to the 15th, and u2's event of the 12th: arriving late, on the 15th (True), on
    time (False), or never (None). Each lake receives its own batches day by day; the days two of them receive
    alike are built once and the lake copied where they part."""

    def u1(n: int) -> dict[str, Any]:
        return landed(f"e{n}", at(f"2026-11-{n} 10:00" if n < 15 else "2026-11-15 08:00"), user_id="u1")

    def u2(received: str) -> dict[str, Any]:
        return landed("late", at("2026-11-12 20:00"), user_id="u2", received=at(received))

    shared = Lakehouse(folder / "shared", connection)
    for n in (10, 11):
        shared.receive([u1(n)], at(f"2026-11-{n} 21:00"))
    on_time = shared.copy(folder / "on_time")
    on_time.receive([u1(12), u2("2026-11-12 20:30")], at("2026-11-12 21:00"))
    for n in (13, 14):
        on_time.receive([u1(n)], at(f"2026-11-{n} 21:00"))
    on_time.receive([u1(15)], at("2026-11-15 12:00"))
    for n in (12, 13, 14):
        shared.receive([u1(n)], at(f"2026-11-{n} 21:00"))
    late = shared.copy(folder / "late")
    late.receive([u1(15), u2("2026-11-15 12:00")], at("2026-11-15 12:00"))
    shared.receive([u1(15)], at("2026-11-15 12:00"))  # u2 never
    return {None: shared.tables(), True: late.tables(), False: on_time.tables()}


def test_a_late_event_changes_the_rows_of_its_day_week_and_cohort_only(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lakes = _late_event_lakes(tmp_path, connection)
    without, late, on_time = lakes[None], lakes[True], lakes[False]
    assert late == on_time  # arriving late or on time makes no difference
    changed = _changed(without, late)
    assert changed["lifecycle_daily"] == {(d(12),), (d(13),)}  # u2 new on the 12th, dormant on the 13th
    assert changed["lifecycle_weekly"] == {(d(9),), (d(16),)}  # u2 new in one week, dormant in the next
    assert changed["retention_daily"] == {(d(12), "first_seen", n) for n in range(0, 5)}  # a new cohort
    assert changed["retention_weekly"] == {(d(9), "first_seen", 0), (d(9), "first_seen", 1)}
    assert late["lifecycle_daily"][(d(12),)]["new_users"] == 1
    assert late["retention_weekly"][(d(9), "first_seen", 0)]["cohort_size"] == 2


def _identify_lake(folder: Path, connection: Any, *, identified_from_the_start: bool) -> Rows:
    """Anonymous visits on the 10th and 11th, u1 on the 12th, identified as u1 on the 15th (or all along)."""
    lake = Lakehouse(folder, connection)
    user = "u1" if identified_from_the_start else None
    for n in (10, 11):
        visit = landed(f"a{n}", at(f"2026-11-{n} 10:00"), user_id=user, anonymous_id="anon", kind="page")
        lake.receive([visit], at(f"2026-11-{n} 10:30"))
    lake.receive([landed("u12", at("2026-11-12 10:00"), user_id="u1")], at("2026-11-12 10:30"))
    lake.receive([landed("o13", at("2026-11-13 10:00"), user_id="other")], at("2026-11-13 10:30"))
    lake.receive([landed("o14", at("2026-11-14 10:00"), user_id="other")], at("2026-11-14 10:30"))
    identify = landed("i1", at("2026-11-15 09:00"), user_id="u1", anonymous_id="anon", kind="identify")
    lake.receive([identify], at("2026-11-15 09:30"))
    return lake.tables()


def test_a_late_identify_stitches_an_anonymous_past_into_one_cohort(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        stitched = _identify_lake(tmp_path / "late", connection, identified_from_the_start=False)
        known = _identify_lake(tmp_path / "known", connection, identified_from_the_start=True)
    assert stitched == known
    cohorts = {key[0] for key in stitched["retention_daily"]}
    assert cohorts == {d(10), d(13)}  # u1 from the 10th (anonymously), other from the 13th; none on the 12th
    u1 = [stitched["retention_daily"][(d(10), "first_seen", n)] for n in range(6)]
    assert [(row["cohort_size"], row["retained"]) for row in u1] == [(1, 1), (1, 1), (1, 1), (1, 0), (1, 0), (1, 1)]
    daily = {key[0]: row for key, row in stitched["lifecycle_daily"].items()}
    assert (daily[d(12)]["returning_users"], daily[d(12)]["new_users"]) == (1, 0)
    assert daily[d(15)]["resurrecting_users"] == 1


def test_building_a_day_again_changes_nothing(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection)
        for n in range(10, 14):
            lake.receive([landed(f"e{n}", at(f"2026-11-{n} 10:00"), user_id=f"u{n % 3}")], at(f"2026-11-{n} 11:00"))
        before = lake.tables()
        lake.rebuild(d(11))
        assert lake.tables() == before
        with lake.engine.begin() as database:  # a BI user's stray edit is replaced by the next build of the day
            database.execute(sa.delete(schema.retention_daily).where(schema.retention_daily.c.cohort_date == d(12)))
        lake.rebuild(d(13))
        assert lake.tables() == before


def test_a_gap_in_cohort_activity_is_refused(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection)
        for n in range(10, 13):
            lake.receive([landed(f"e{n}", at(f"2026-11-{n} 10:00"))], at(f"2026-11-{n} 11:00"))
        from revolt_pipeline.layers.retention import RETENTION
        from revolt_pipeline.storage.layout import commit_key

        lake.store.delete(commit_key(RETENTION.name, d(11)))
        lake.store.delete("cohort_activity/snapshot_date=2026-11-11/cohort_activity.parquet")
        with pytest.raises(FileNotFoundError, match="no cohort_activity of 2026-11-11"):
            lake.builder.retention_days([d(12)])


@pytest.mark.parametrize("event", ["", "x" * 256, "Signed\x00Up"])
def test_a_retention_event_the_report_column_cannot_hold_is_refused(event: str) -> None:
    with pytest.raises(ValueError, match="a retention event must be an event name"):
        PipelineRules(retention_start_event=event)
    with pytest.raises(ValueError, match="a retention event must be an event name"):
        PipelineRules(retention_return_event=event)
    assert PipelineRules(retention_start_event="O'Brien's \"Signed Up\"").anchored_retention
