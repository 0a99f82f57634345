"""The demo's traffic through a real collector and every layer: events and active users by OS, device type,
country, locale, source and SDK library (events by OS and country per platform and app version too), and people's
countries, equal what the traffic generator knows, in SQLite and in PostgreSQL. (Built by the layer library, as
the cascade builds it, once per session: `demo_lake` in conftest.py. `revolt demo` itself, through Dagster, is
compared with the embedded default's rows on PostgreSQL in test_demo_end_to_end.py.)"""

from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import people_key
from revolt_pipeline.transforms.aggregates import DIMENSION_GRAINS, EVENTS_DIMENSION_GRAINS
from revolt_pipeline.transforms.engine import duckdb_connection, parquet
from revolt_pipeline_tests.pipeline.conftest import DemoLake

pytestmark = pytest.mark.xdist_group("demo_lake")

FIGURES = ("dau", "wau", "mau", "new_users")


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_breakdowns_by_device_dimensions_equal_the_ground_truth(
    database: str, demo_lake: DemoLake, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else f"sqlite:///{tmp_path / 'r.sqlite'}"
    truth, rows = demo_lake.truth, demo_lake.load(url)
    assert truth["devices_sending_ip"] > 0  # some countries come from addresses, the others from time zones
    by_version: dict[tuple, int] = defaultdict(int)
    for row in rows["events_daily_by_app_version"]:
        by_version[(row["event_date"], row["platform"], row["app_version"])] += row["events"]
    for grain, events_grain in zip(DIMENSION_GRAINS, EVENTS_DIMENSION_GRAINS, strict=True):
        events: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        versions: dict[tuple, int] = defaultdict(int)
        for row in rows[f"events_daily{grain.suffix}"]:
            value = "|".join(row[name] for name in events_grain.dimensions)
            events[row["event_date"].isoformat()][value] += row["events"]
            if "platform" in events_grain.dimensions:
                versions[(row["event_date"], row["platform"], row["app_version"])] += row["events"]
        assert events == truth[f"events_daily{grain.suffix}"], grain.suffix
        # Per platform and app version, events by OS and by country add up to the app-version table's.
        assert versions == (by_version if "platform" in events_grain.dimensions else {}), grain.suffix
        actives: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for row in rows[schema.ACTIVE_USERS_TABLES[grain].name]:
            value = "|".join(row[name] for name in grain.dimensions)
            actives[row["event_date"].isoformat()][value] = {figure: row[figure] for figure in FIGURES}
        expected = truth[f"active_users_daily{grain.suffix}"]
        assert {day: actives.get(day, {}) for day in expected} == expected, grain.suffix

    # Everyone's country is their region's, whether their device sent an address or only its time zone.
    last = date.fromisoformat(max(truth["days"]))
    store = demo_lake.settings.store
    snapshots = sorted(info.key for info in store.list("people") if info.key.endswith(".parquet"))
    assert people_key(last) in snapshots
    with duckdb_connection(threads=1) as connection:
        people = connection.execute(
            f"SELECT person_id, country, country_method, first_country FROM {parquet(store.local_path(snapshots[-1]))}"
        ).fetchall()
    assert {person: country for person, country, _, _ in people} == truth["people_countries"]
    assert all(first == country for _, country, _, first in people)
    assert {method for _, _, method, _ in people} == {"ip", "timezone"}
