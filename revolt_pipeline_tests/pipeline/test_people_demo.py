"""`revolt demo` end to end: person days, people and active users equal what the traffic generator knows."""

import pytest

from revolt_pipeline.demo.pipeline import summarize
from revolt_pipeline.reports import schema
from revolt_pipeline_tests.pipeline.conftest import DemoRun

# Shares the session's demo runs (conftest.py): one worker builds them.
pytestmark = pytest.mark.xdist_group("demo")


def test_active_users_equal_the_ground_truth(embedded_demo: DemoRun) -> None:
    settings, result, rows = embedded_demo.settings, embedded_demo.result, embedded_demo.rows
    truth = result.truth
    totals = {row["event_date"].isoformat(): row for row in rows[schema.active_users_daily.name]}
    for day, expected in truth["days"].items():
        got = totals[day]
        assert (got["dau"], got["wau"], got["mau"], got["new_users"]) == (
            expected["daily_active_users"],
            expected["weekly_active_users"],
            expected["monthly_active_users"],
            expected["new_users"],
        ), day
        assert got["stickiness"] == pytest.approx(expected["daily_active_users"] / expected["monthly_active_users"])
    # Every person seen is new exactly once.
    assert sum(row["new_users"] for row in totals.values()) == len(
        {person for session in truth["sessions"] for person in [session["person"]]}
    )
    # A breakdown never holds a total: every row names a platform, and its DAU never exceeds the day's.
    by_platform = rows[schema.active_users_daily_by_platform.name]
    assert by_platform and all(row["platform"] not in ("all", None) for row in by_platform)
    for row in by_platform:
        assert row["dau"] <= totals[row["event_date"].isoformat()]["dau"]
        assert row["mau"] <= totals[row["event_date"].isoformat()]["mau"]
    # The breakdowns equal the truth too, on every day of traffic, value by value.
    for table, dimension in (
        (schema.active_users_daily_by_platform, "platform"),
        (schema.active_users_daily_by_app_version, "app_version"),
    ):
        got: dict[str, dict[str, dict[str, int]]] = {}
        for row in rows[table.name]:
            key = row["platform"] if dimension == "platform" else f"{row['platform']}|{row['app_version']}"
            got.setdefault(row["event_date"].isoformat(), {})[key] = {
                key: row[key] for key in ("dau", "wau", "mau", "new_users")
            }
        assert {day: got.get(day, {}) for day in truth["days"]} == truth[table.name], table.name
    # person_days and people, loaded by the people_tables step, equal the truth too.
    person_days = rows[schema.person_days.name]
    assert {(row["event_date"].isoformat(), row["person_id"]) for row in person_days} == {
        (day, person) for day, people in truth["person_days"].items() for person in people
    }
    people = {row["person_id"]: (row["first_seen"].isoformat(), row["events"]) for row in rows[schema.people.name]}
    assert people == {person: (seen["first_seen"], seen["events"]) for person, seen in truth["people"].items()}
    summary = "\n".join(summarize(settings, result))
    assert "WAU" in summary and "MAU" in summary and "equal to the ground truth" in summary


@pytest.mark.parametrize("backend", ["embedded_demo", "production_demo"])
def test_people_first_and_latest_values_equal_the_ground_truth(backend: str, request: pytest.FixtureRequest) -> None:
    """The platform, app version, OS, locale and country of each person's first and latest event, in the `people`
    report table on SQLite (the embedded default) and on PostgreSQL (production's backends)."""
    run: DemoRun = request.getfixturevalue(backend)
    truth = run.result.truth["people_first_and_latest"]
    columns = sorted({column for values in truth.values() for column in values})
    assert {"first_app_version", "first_os_name", "first_os_version", "first_locale", "first_country"} <= set(columns)
    got = {row["person_id"]: {column: row[column] for column in columns} for row in run.rows[schema.people.name]}
    assert got == truth
    # The demo's traffic tells first from latest: people whose app was upgraded, or who moved to another device.
    assert any(values["first_app_version"] != values["latest_app_version"] for values in truth.values())
    assert any(values["first_os_name"] != values["latest_os_name"] for values in truth.values())


def test_each_day_of_people_says_how_many_were_active(embedded_demo: DemoRun) -> None:
    """`active_people` (what ml_after_people reads to skip days no one was active on) is the day's DAU."""
    import dagster as dg

    from revolt_pipeline.defs.people.assets import ACTIVE_PEOPLE

    dau = {row["event_date"].isoformat(): row["dau"] for row in embedded_demo.rows[schema.active_users_daily.name]}
    with dg.DagsterInstance.from_config(str(embedded_demo.result.instance_home)) as instance:
        for day, expected in dau.items():
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("people"), asset_partitions=[day]), limit=1
            ).records
            assert records[0].asset_materialization.metadata[ACTIVE_PEOPLE].value == expected, day
    assert max(dau.values()) > 0
