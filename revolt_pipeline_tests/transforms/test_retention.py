"""Lifecycle and retention, built by the layer library without Dagster: the states, the cells, late data."""

import gzip
import shutil
from contextlib import nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from revolt_pipeline.layers.checks import lifecycle_by_problems, retention_split_problems
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
    "lifecycle_daily_by_platform": ("event_date", "platform"),
    "lifecycle_daily_by_app_version": ("event_date", "platform", "app_version"),
    "lifecycle_weekly_by_platform": ("week_start", "platform"),
    "lifecycle_weekly_by_app_version": ("week_start", "platform", "app_version"),
    "retention_daily_by_app_version": ("cohort_date", "definition", "platform", "app_version", "period"),
    "retention_weekly_by_app_version": ("cohort_week", "definition", "platform", "app_version", "period"),
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


def test_lifecycle_by_platform_judges_each_platform_on_its_own_activity(tmp_path: Path) -> None:
    """u1 on the web (1.0) on the 3rd, the web (1.1) and iOS on the 4th, iOS alone on the 5th, the web again on
    the 7th; u2 on iOS on the 3rd, first on the web on the 5th."""
    by_day = {
        3: [
            landed("a", at("2026-11-03 10:00"), user_id="u1", platform="web", app_version="1.0"),
            landed("b", at("2026-11-03 11:00"), user_id="u2", platform="ios", app_version="2.0"),
        ],
        4: [
            landed("c", at("2026-11-04 10:00"), user_id="u1", platform="web", app_version="1.1"),
            landed("d", at("2026-11-04 11:00"), user_id="u1", platform="ios", app_version="2.0"),
        ],
        5: [
            landed("e", at("2026-11-05 10:00"), user_id="u1", platform="ios", app_version="2.0"),
            landed("f", at("2026-11-05 11:00"), user_id="u2", platform="web", app_version="1.1"),
        ],
        7: [landed("g", at("2026-11-07 10:00"), user_id="u1", platform="web", app_version="1.1")],
    }
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection)
        for day, records in by_day.items():
            lake.receive(records, at(f"2026-11-0{day} 21:00"))
        tables = lake.tables()
    states = ("new_users", "returning_users", "resurrecting_users", "dormant_users")

    def of(table: str, *key: Any) -> list[int]:
        row = tables[table].get(key)
        return [row[s] for s in states] if row else []

    by_platform, by_version = "lifecycle_daily_by_platform", "lifecycle_daily_by_app_version"
    assert of(by_platform, d(3), "web") == [1, 0, 0, 0] and of(by_platform, d(3), "ios") == [1, 0, 0, 0]
    # u1 new on iOS while returning on the web; u2 dormant on iOS.
    assert of(by_platform, d(4), "web") == [0, 1, 0, 0] and of(by_platform, d(4), "ios") == [1, 0, 0, 1]
    # By version: u1's web 1.1 is new, 1.0 dormant, though the web as a whole has u1 returning.
    assert of(by_version, d(4), "web", "1.1") == [1, 0, 0, 0] and of(by_version, d(4), "web", "1.0") == [0, 0, 0, 1]
    # The 5th: u1 dormant on the web (still active on iOS, returning there); u2 new on the web, though resurrecting
    # for lifecycle_daily (first seen on the 3rd, away on the 4th).
    assert of(by_platform, d(5), "web") == [1, 0, 0, 1] and of(by_platform, d(5), "ios") == [0, 1, 0, 0]
    assert of("lifecycle_daily", d(5)) == [0, 1, 1, 0]
    # The 7th: u1 back on the web after a day away: resurrecting there; iOS has no one on the 6th or 7th.
    assert of(by_platform, d(7), "web") == [0, 0, 1, 0] and of(by_platform, d(7), "ios") == []
    # The week of the 2nd, as of the 7th: each platform's people new in it.
    assert of("lifecycle_weekly_by_platform", d(2), "web") == [2, 0, 0, 0]
    assert of("lifecycle_weekly_by_app_version", d(2), "ios", "2.0") == [2, 0, 0, 0]
    for table in ("lifecycle_daily_by_platform", "lifecycle_weekly_by_platform", by_version):
        for row in tables[table].values():
            assert row["new_users"] + row["returning_users"] + row["resurrecting_users"] == row["active_users"]
            assert row["returning_users"] + row["dormant_users"] == row["previous_active_users"]


def test_the_lifecycle_by_platform_check_flags_states_or_actives_that_disagree() -> None:
    row = {"event_date": d(4), "platform": "ios", "active_users": 2, "new_users": 1, "returning_users": 1,
           "resurrecting_users": 0, "dormant_users": 1, "previous_active_users": 2}  # fmt: skip
    tables = {"lifecycle_daily_by_platform": [row]}
    assert lifecycle_by_problems(tables, {"lifecycle_daily_by_platform": [{"platform": "ios", "dau": 2}]}) == []
    assert lifecycle_by_problems(tables, {"lifecycle_daily_by_platform": [{"platform": "ios", "dau": 3}]}) == [
        "lifecycle_daily_by_platform ios: 2 active, its active users count 3"
    ]
    broken = {"lifecycle_daily_by_platform": [{**row, "new_users": 0}]}
    assert lifecycle_by_problems(broken, {}) == [
        "lifecycle_daily_by_platform 2026-11-04 ios: new + returning + resurrecting = 1, active 2"
    ]


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


def test_retention_by_app_version_splits_each_cohort_by_what_acquired_its_people(tmp_path: Path) -> None:
    """u1 arrives on the web (its first event sends no app version), signs up on iOS 2.0 an hour later and comes
    back on iOS on the 5th; u2 signs up on iOS 1.9; u3 arrives on Android on the 4th. A cohort's people count
    under the platform and version of the event that put them in it; returns count on any platform."""
    no_version = {"app": {}}
    by_day = {
        3: [
            landed("a", at("2026-11-03 10:00"), user_id="u1", context=no_version),
            landed("b", at("2026-11-03 11:00"), user_id="u1", event="Signed Up", platform="ios", app_version="2.0"),
            landed("c", at("2026-11-03 12:00"), user_id="u2", event="Signed Up", platform="ios", app_version="1.9"),
        ],
        4: [landed("d", at("2026-11-04 10:00"), user_id="u3", platform="android", app_version="3.0")],
        5: [landed("e", at("2026-11-05 10:00"), user_id="u1", platform="ios", app_version="2.0")],
    }
    rules = PipelineRules(retention_start_event="Signed Up")
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection, rules)
        for day, records in by_day.items():
            lake.receive(records, at(f"2026-11-0{day} 21:00"))
        tables = lake.tables()

    def cells(table: str, cohort: date, definition: str) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
        split: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        for key, row in sorted(tables[table].items()):
            if key[:2] == (cohort, definition):
                split.setdefault(key[2:4], []).append((row["cohort_size"], row["retained"], row["retained_or_later"]))
        return split

    # First seen: u1 under the web, with the version of that first event (none: unknown), back on iOS on day 2.
    # (The sessions layer builds the 6th too, the day after the last event: period 3 of the 3rd's cohorts.)
    assert cells("retention_daily_by_app_version", d(3), "first_seen") == {
        ("ios", "1.9"): [(1, 1, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)],
        ("web", "unknown"): [(1, 1, 1), (1, 0, 1), (1, 1, 1), (1, 0, 0)],
    }
    assert cells("retention_daily_by_app_version", d(4), "first_seen") == {
        ("android", "3.0"): [(1, 1, 1), (1, 0, 0), (1, 0, 0)]
    }
    # Anchored on Signed Up: u1 acquired by its sign-up on iOS 2.0; u3 never started.
    assert cells("retention_daily_by_app_version", d(3), "anchored") == {
        ("ios", "1.9"): [(1, 1, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)],
        ("ios", "2.0"): [(1, 1, 1), (1, 0, 1), (1, 1, 1), (1, 0, 0)],
    }
    assert cells("retention_weekly_by_app_version", d(2), "first_seen") == {
        ("android", "3.0"): [(1, 1, 1)],
        ("ios", "1.9"): [(1, 1, 1)],
        ("web", "unknown"): [(1, 1, 1)],
    }
    # The split adds up to the total, cell by cell, in both tables.
    for total, split in (
        ("retention_daily", "retention_daily_by_app_version"),
        ("retention_weekly", "retention_weekly_by_app_version"),
    ):
        sums: dict[tuple, list[int]] = {}
        for key, row in tables[split].items():
            cell = sums.setdefault((key[0], key[1], key[4]), [0, 0, 0])
            for index, name in enumerate(("cohort_size", "retained", "retained_or_later")):
                cell[index] += row[name]
        assert sums == {
            key: [row["cohort_size"], row["retained"], row["retained_or_later"]] for key, row in tables[total].items()
        }


def test_snapshots_written_before_the_split_count_their_people_as_unknown_and_go_on(tmp_path: Path) -> None:
    """A lake built before retention was split (cohort_activity without what acquired people, no
    person_platforms) builds its next days: people it knew under `unknown`, never under a later day's platform,
    and person_platforms gathered from every person day once."""
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path / "lake", connection)
        lake.receive([landed("a", at("2026-11-03 10:00"), user_id="u1", platform="web")], at("2026-11-03 21:00"))
        lake.receive([landed("b", at("2026-11-04 10:00"), user_id="u2", platform="web")], at("2026-11-04 21:00"))
        for day in lake.store.list("cohort_activity"):
            old = pq.read_table(lake.store.path(day.key))
            pq.write_table(old.drop_columns(["acquired_at", "platform", "app_version"]), lake.store.path(day.key))
        for day in lake.store.list("person_platforms"):
            lake.store.delete(day.key)
        # The 5th's events rebuild the days from the 4th on, from the old snapshot of the 3rd.
        lake.receive([landed("c", at("2026-11-05 10:00"), user_id="u1", platform="ios")], at("2026-11-05 21:00"))
        tables = lake.tables()
    split = {key[:4] for key in tables["retention_daily_by_app_version"]}
    assert split == {(d(3), "first_seen", "unknown", "unknown"), (d(4), "first_seen", "web", "1.0")}
    # On the 5th u1 is new on iOS and the web has u2 dormant: first activity per platform from every person day.
    ios = tables["lifecycle_daily_by_platform"][(d(5), "ios")]
    web = tables["lifecycle_daily_by_platform"][(d(5), "web")]
    assert (ios["new_users"], web["dormant_users"], web["new_users"]) == (1, 1, 0)


def test_the_split_check_flags_a_cohort_whose_app_versions_do_not_add_up() -> None:
    total = [
        {
            "cohort_date": d(3),
            "definition": "first_seen",
            "period": 0,
            "cohort_size": 2,
            "retained": 2,
            "retained_or_later": 2,
        }
    ]
    split = [
        {**total[0], "platform": "ios", "app_version": "1.9", "cohort_size": 1, "retained": 1, "retained_or_later": 1},
        {**total[0], "platform": "web", "app_version": "1.0", "cohort_size": 1, "retained": 1, "retained_or_later": 1},
    ]
    assert retention_split_problems("retention_daily", total, split, "cohort_date") == []
    assert retention_split_problems("retention_daily", total, split[:1], "cohort_date") == [
        "retention_daily 2026-11-03 first_seen period 0: by app version cohort_size 1, retained 1, "
        "retained_or_later 1; in total cohort_size 2, retained 2, retained_or_later 2"
    ]
    later = {**split[0], "period": 1}
    assert retention_split_problems("retention_daily", total, [*split, later], "cohort_date") == [
        "retention_daily 2026-11-03 first_seen period 1: by app version only"
    ]


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
