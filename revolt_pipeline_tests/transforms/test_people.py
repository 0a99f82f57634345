"""People and active users, built by the layer library without Dagster: merges, traits, late data."""

import gzip
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.people import build_people_days
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.engine import sql_string
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed, run_pipeline


def _rows(connection: Any, path: str) -> list[dict[str, Any]]:
    cursor = connection.execute(f"SELECT * FROM read_parquet({sql_string(path)}) ORDER BY ALL")
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Lakehouse:
    """A store that receives batches over time, built day by day as the cascade would."""

    def __init__(self, folder: Path, connection: Any) -> None:
        self.store = ObjectStore((folder / "store").as_uri())
        (folder / "work").mkdir()
        self.connection = connection
        self.builder = DayBuilder(self.store, DEFAULT_RULES, folder / "work", connect=lambda: nullcontext(connection))
        self.segment = 0
        self.people: dict[date, str] = {}
        self.actives: dict[date, str] = {}
        self.aggregates: dict[date, str] = {}  # the cleaned layer's daily_active_users of each day

    def receive(self, records: list[dict[str, Any]], when: datetime) -> None:
        self.segment += 1
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        self.store.put(landed_object_key(LANDING, when, "c1", f"{self.segment:06d}"), gzip.compress(lines))
        built = self.builder.every_layer([when.date()])
        for day in built.people:
            self.people[day.day] = day.people_path
            self.actives[day.day] = day.actives["active_users_daily"]
        for aggregates in built.aggregates:
            self.aggregates[aggregates.day] = aggregates.outputs["daily_active_users"]

    def person(self, day: date, person_id: str) -> dict[str, Any] | None:
        return next((row for row in _rows(self.connection, self.people[day]) if row["person_id"] == person_id), None)

    def totals(self, day: date) -> dict[str, Any]:
        (row,) = _rows(self.connection, self.actives[day])
        return row

    def stored(self) -> dict[str, list[dict[str, Any]]]:
        """Every file the people layer keeps in the store (person days, snapshots, active users and the rows shaped
        for the report tables), its rows by key."""
        return {
            info.key: _rows(self.connection, self.store.path(info.key))
            for area in ("person_days/", "people/", "active_users/", "people_reports/")
            for info in self.store.list(area)
            if info.key.endswith(".parquet")
        }

    def daily_active_users(self) -> dict[date, tuple[int, int]]:
        """Each day's active people by the cleaned layer (`daily_active_users`) and by the people layer
        (`active_users_daily`)."""
        cleaned = {day: _rows(self.connection, path)[0]["active_users"] for day, path in self.aggregates.items()}
        return {day: (cleaned[day], self.totals(day)["dau"]) for day in sorted(self.actives)}


def test_identify_traits_merge_key_by_key_latest_wins(tmp_path: Path) -> None:
    records = [
        landed("i1", at("2026-11-10 09:00"), kind="identify", traits={"email": "a@x.io", "plan": "free"}),
        landed("i2", at("2026-11-10 09:05"), kind="identify", traits={"plan": "team", "name": "Ada"}),
        landed("i3", at("2026-11-11 09:00"), kind="identify", traits={"plan": "business"}, platform="ios"),
    ]
    with duckdb_connection() as connection:
        lake = run_pipeline(connection, tmp_path, records)
        (person,) = lake.rows(lake.people[date(2026, 11, 11)])
    assert (person["email"], person["name"], person["plan"]) == ("a@x.io", "Ada", "business")
    assert orjson.loads(person["traits"]) == {"email": "a@x.io", "plan": "business", "name": "Ada"}
    assert (person["first_platform"], person["last_platform"]) == ("web", "ios")
    assert (person["first_seen"], person["last_seen"], person["events"], person["sessions"]) == (
        date(2026, 11, 10),
        date(2026, 11, 11),
        3,
        2,
    )


def test_wau_and_mau_count_a_person_once_across_days_and_platforms(tmp_path: Path) -> None:
    records = [
        landed("m1", at("2026-11-01 10:00"), user_id="u1"),
        landed("m2", at("2026-11-05 10:00"), user_id="u1", platform="ios"),
        landed("m3", at("2026-11-05 11:00"), user_id="u2"),
        landed("m4", at("2026-11-09 10:00"), user_id="u2"),
    ]
    with duckdb_connection() as connection:
        lake = run_pipeline(connection, tmp_path, records)
        totals = {row["event_date"]: row for row in lake.all_rows(lake.actives["active_users_daily"])}
        platforms = lake.all_rows(lake.actives["active_users_daily_by_platform"])
    day = totals[date(2026, 11, 9)]
    assert (day["dau"], day["wau"], day["mau"], day["new_users"]) == (1, 2, 2, 0)  # u1 on 11-01 is outside WAU
    assert totals[date(2026, 11, 5)]["new_users"] == 1
    assert totals[date(2026, 11, 7)]["wau"] == 2 and totals[date(2026, 11, 8)]["wau"] == 2
    assert totals[date(2026, 11, 8)]["dau"] == 0 and totals[date(2026, 11, 8)]["stickiness"] == 0.0
    on_the_5th = {
        row["platform"]: (row["dau"], row["mau"]) for row in platforms if row["event_date"] == date(2026, 11, 5)
    }
    assert on_the_5th == {"web": (1, 2), "ios": (1, 1)}


def test_the_mau_window_is_as_long_as_configured(tmp_path: Path) -> None:
    """REVOLT_MAU_WINDOW_DAYS=10: u1, active on the 1st, is in the MAU of the 10th and out of it on the 11th."""
    records = [
        landed("m1", at("2026-11-01 10:00"), user_id="u1"),
        landed("m2", at("2026-11-09 10:00"), user_id="u2", platform="ios"),
        landed("m3", at("2026-11-12 10:00"), user_id="u3"),
    ]
    with duckdb_connection() as connection:
        lake = run_pipeline(connection, tmp_path, records, replace(DEFAULT_RULES, mau_window_days=10))
        totals = {row["event_date"]: row for row in lake.all_rows(lake.actives["active_users_daily"])}
        platforms = lake.all_rows(lake.actives["active_users_daily_by_platform"])
    assert [totals[date(2026, 11, n)]["mau"] for n in (9, 10, 11, 12)] == [2, 2, 1, 2]
    assert (totals[date(2026, 11, 12)]["wau"], totals[date(2026, 11, 12)]["stickiness"]) == (2, 0.5)
    mau = {(row["event_date"].day, row["platform"]): row["mau"] for row in platforms if row["mau"]}
    assert {key: n for key, n in mau.items() if key[0] in (10, 11)} == {(10, "web"): 1, (10, "ios"): 1, (11, "ios"): 1}


def test_a_late_identify_stitches_an_anonymous_past_older_than_the_day_before(tmp_path: Path) -> None:
    """Anonymous visits on the 10th and 11th, identified as u1 on the 15th, who was already a user on the 12th:
    one person from the 10th on, in people and in every window, after the identify arrives."""
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path, connection)
        for day, records in [
            ("2026-11-10", [landed("a1", at("2026-11-10 10:00"), user_id=None, anonymous_id="anon", kind="page")]),
            ("2026-11-11", [landed("a2", at("2026-11-11 10:00"), user_id=None, anonymous_id="anon", kind="page")]),
            ("2026-11-12", [landed("u1", at("2026-11-12 10:00"), user_id="u1")]),
            ("2026-11-13", [landed("o1", at("2026-11-13 10:00"), user_id="other")]),
            ("2026-11-14", [landed("o2", at("2026-11-14 10:00"), user_id="other")]),
        ]:
            lake.receive(records, at(f"{day} 10:30"))
        before = lake.totals(date(2026, 11, 14))
        assert (before["wau"], before["mau"]) == (3, 3)  # anon, u1, other
        assert lake.person(date(2026, 11, 14), "anon") is not None
        snapshot_13 = _rows(connection, lake.people[date(2026, 11, 13)])

        identify = landed("i1", at("2026-11-15 09:00"), user_id="u1", anonymous_id="anon", kind="identify")
        lake.receive([identify], at("2026-11-15 09:30"))

        for day in (date(2026, 11, 14), date(2026, 11, 15)):
            assert lake.person(day, "anon") is None
            person = lake.person(day, "u1")
            assert person is not None
            assert (person["first_seen"], person["identified"], person["user_id"]) == (date(2026, 11, 10), True, "u1")
        merged = lake.person(date(2026, 11, 15), "u1")
        assert merged is not None and merged["events"] == 4 and merged["days_active"] == 4
        assert merged["first_platform"] == "web"
        # Every window from the first anonymous day on is rebuilt: one person, not two.
        assert (lake.totals(date(2026, 11, 14))["wau"], lake.totals(date(2026, 11, 14))["mau"]) == (2, 2)
        assert lake.totals(date(2026, 11, 15))["wau"] == 2
        assert lake.totals(date(2026, 11, 12))["new_users"] == 0  # u1 was first seen on the 10th, anonymously
        assert lake.totals(date(2026, 11, 10))["new_users"] == 1
        assert lake.totals(date(2026, 11, 13))["new_users"] == 1  # "other": untouched
        # The snapshot of the 13th changes only in the rows the identify merged.
        after_13 = _rows(connection, lake.people[date(2026, 11, 13)])
        assert [row for row in after_13 if row["person_id"] == "other"] == [
            row for row in snapshot_13 if row["person_id"] == "other"
        ]
        assert {row["person_id"] for row in snapshot_13} == {"anon", "u1", "other"}
        assert {row["person_id"] for row in after_13} == {"u1", "other"}


def test_after_a_late_identify_of_an_old_day_both_layers_count_the_person_once(tmp_path: Path) -> None:
    """On the 10th ada browsed the website anonymously and used the iOS app signed in: two ids of one person on a
    day. Her identify arrives on the 15th, days after the day before: the cleaned layer's `daily_active_users`
    of the 10th, which counted her twice, is rebuilt and counts her once, as `active_users_daily` does."""
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path, connection)
        visits = [
            landed("a1", at("2026-11-10 09:00"), user_id=None, anonymous_id="anon", kind="page"),
            landed("u1", at("2026-11-10 12:00"), user_id="ada", platform="ios"),
        ]
        lake.receive(visits, at("2026-11-10 12:30"))
        for n in range(11, 15):
            lake.receive([landed(f"o{n}", at(f"2026-11-{n} 10:00"), user_id="other")], at(f"2026-11-{n} 10:30"))
        assert lake.daily_active_users()[date(2026, 11, 10)] == (2, 2)

        identify = landed("i1", at("2026-11-15 09:00"), user_id="ada", anonymous_id="anon", kind="identify")
        lake.receive([identify], at("2026-11-15 09:30"))

        counts = lake.daily_active_users()
        assert counts[date(2026, 11, 10)] == (1, 1)
        assert all(cleaned == people for cleaned, people in counts.values()), counts
        (rebuilt,) = _rows(connection, lake.aggregates[date(2026, 11, 10)])
        assert (rebuilt["identified_users"], rebuilt["anonymous_users"]) == (1, 0)


def test_a_late_event_changes_its_day_and_the_days_after_it_only(tmp_path: Path) -> None:
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path, connection)
        for n in range(10, 15):
            lake.receive([landed(f"e{n}", at(f"2026-11-{n} 10:00"), user_id="u1")], at(f"2026-11-{n} 10:30"))
        lake.receive([landed("n1", at("2026-11-15 08:00"), user_id="new")], at("2026-11-15 08:30"))
        first_pass = {day: lake.totals(day) for day in lake.actives}
        people_before = {day: _rows(connection, lake.people[day]) for day in lake.people}
        # u2's event of the 12th arrives on the 15th, within the lateness window.
        lake.receive([landed("late", at("2026-11-12 20:00"), user_id="u2")], at("2026-11-15 12:00"))
        changed = {day for day in lake.actives if lake.totals(day) != first_pass[day]}
        assert changed == {date(2026, 11, n) for n in range(12, 17)}  # the 16th: its week holds the 12th
        assert lake.totals(date(2026, 11, 12))["new_users"] == 1
        assert lake.totals(date(2026, 11, 15))["mau"] == 3
        assert lake.person(date(2026, 11, 15), "u2")["first_seen"] == date(2026, 11, 12)
        # The people snapshots gain u2 from the 12th on, and nothing else changes in them.
        for day, before in people_before.items():
            after = _rows(connection, lake.people[day])
            assert [row for row in after if row["person_id"] != "u2"] == before, day
            assert [row["person_id"] for row in after if row["person_id"] == "u2"] == (["u2"] if day.day >= 12 else [])


def test_building_a_day_again_changes_nothing(tmp_path: Path) -> None:
    """people_job run again over one day in the middle (a partition re-run from the UI builds that day alone), then
    from a day through the last (as the cascade rebuilds): every person day, snapshot, active-users row and report
    row of the people layer is written as it was."""
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path, connection)
        lake.receive(
            [landed("a1", at("2026-11-10 09:00"), user_id=None, anonymous_id="anon", kind="page")],
            at("2026-11-10 09:30"),
        )
        traits = {"email": "ada@x.io", "plan": "team"}
        identify = landed(
            "i1", at("2026-11-11 09:00"), user_id="ada", anonymous_id="anon", kind="identify", traits=traits
        )
        lake.receive(
            [identify, landed("o1", at("2026-11-11 10:00"), user_id="bob", platform="ios")], at("2026-11-11 10:30")
        )
        for n in (12, 13):
            lake.receive(
                [landed(f"e{n}", at(f"2026-11-{n} 10:00"), user_id="ada", platform="android")], at(f"2026-11-{n} 10:30")
            )
        before = lake.stored()
        assert {key.split("/")[0] for key in before} == {"person_days", "people", "active_users", "people_reports"}
        builder = lake.builder
        build_people_days(lake.store, connection, [date(2026, 11, 12)], builder.rules, builder.workdir)
        assert lake.stored() == before
        builder.people_days([date(2026, 11, 11)])
        assert lake.stored() == before


def test_app_versions_the_report_column_cannot_hold_are_made_safe_and_load(tmp_path: Path) -> None:
    """A build sending a 300-character version with a NUL in it: one row, cut to the column, loaded as is."""
    from revolt_pipeline.layers.people import load_active_users
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows

    hostile = "4.2-" + "x" * 290 + "\x00beta"
    records = [landed("h1", at("2026-11-10 10:00"), app_version=hostile), landed("h2", at("2026-11-10 11:00"))]
    with duckdb_connection() as connection:
        lake = run_pipeline(connection, tmp_path, records)
    assert lake.builder is not None
    engine = create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        ensure_tables(engine)
        load_active_users(engine, lake.builder.store, schema.active_users_daily_by_app_version, [date(2026, 11, 10)])
        rows = read_rows(engine, schema.active_users_daily_by_app_version)
    finally:
        engine.dispose()
    versions = {row["app_version"]: row["dau"] for row in rows}
    assert versions["1.0"] == 1
    (cut,) = [version for version in versions if version != "1.0"]
    assert len(cut) == 64 and cut.startswith("4.2-xxx") and "\x00" not in cut and versions[cut] == 1


def test_a_late_earlier_event_moves_the_first_values_back(tmp_path: Path) -> None:
    """u1 first seen on the 12th with app 2.0 on Android; an event of the 11th (app 1.0, iOS, de-DE) arrives late on
    the 14th: the people from the 11th on take it as the first, as first_seen does. The latest values stay."""
    with duckdb_connection() as connection:
        lake = Lakehouse(tmp_path, connection)
        android = {"os": {"name": "Android", "version": "14"}, "locale": "en-US"}
        lake.receive([landed("e1", at("2026-11-12 10:00"), app_version="2.0", context=android)], at("2026-11-12 10:30"))
        lake.receive([landed("e2", at("2026-11-13 10:00"), app_version="2.1", context=android)], at("2026-11-13 10:30"))
        before = lake.person(date(2026, 11, 13), "u1")
        assert before is not None
        assert (before["first_app_version"], before["first_os_name"], before["first_locale"]) == (
            "2.0",
            "Android",
            "en-US",
        )

        ios = {"os": {"name": "iOS", "version": "17"}, "locale": "de-DE"}
        late = landed("e0", at("2026-11-11 22:00"), app_version="1.0", context=ios, received=at("2026-11-14 09:00"))
        lake.receive([late], at("2026-11-14 09:00"))
        person = lake.person(date(2026, 11, 14), "u1")
        assert person is not None
        assert (person["first_seen"], person["first_app_version"], person["first_os_name"]) == (
            date(2026, 11, 11),
            "1.0",
            "iOS",
        )
        assert (person["first_os_version"], person["first_locale"]) == ("17", "de-DE")
        assert (person["app_version"], person["os_name"], person["locale"]) == ("2.1", "Android", "en-US")
