"""Features as of a cutoff read nothing from the cutoff on; churn labels read the horizon after it."""

import gzip
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pytest

from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import churn_labels, labelled, person_features
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.features import NUMERIC_FEATURES
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed

CUTOFF = date(2026, 11, 20)


def _day(day: date, hour: int = 12) -> str:
    return f"{day.isoformat()} {hour:02d}:00"


def _before_cutoff() -> list[dict[str, Any]]:
    """u1 every day of the two weeks before the cutoff (twice on the last three), u2 three times, u3 long ago."""
    records = []
    for n in range(1, 15):
        day = CUTOFF - timedelta(days=n)
        records.append(landed(f"u1-{n}", at(_day(day, 9)), user_id="u1", event="Timer Started"))
        if n <= 3:
            records.append(landed(f"u1-{n}-b", at(_day(day, 15)), user_id="u1", event="Report Viewed"))
    for n in (2, 9, 20):
        day = CUTOFF - timedelta(days=n)
        records.append(
            landed(f"u2-{n}", at(_day(day)), user_id="u2", event="Timer Started", platform="ios", app_version="2.0")
        )
    records.append(landed("u3-old", at(_day(CUTOFF - timedelta(days=29))), user_id="u3"))
    return records


def _from_cutoff() -> list[dict[str, Any]]:
    """Activity from the cutoff on: u1 again (at midnight exactly), u3 back, u4 new, and a u2 identify."""
    records = [
        landed("u1-at-cutoff", at(f"{CUTOFF.isoformat()} 00:00"), user_id="u1", event="Report Viewed"),
        landed("u3-back", at(_day(CUTOFF + timedelta(days=2))), user_id="u3", event="Report Viewed"),
        landed("u4-new", at(_day(CUTOFF + timedelta(days=1))), user_id="u4", platform="android"),
        landed("u1-later", at(_day(CUTOFF + timedelta(days=3))), user_id="u1", app_version="9.9"),
    ]
    return records


@dataclass
class FeatureLake:
    store: ObjectStore
    connection: duckdb.DuckDBPyConnection
    builder: DayBuilder
    features_before: list[dict[str, Any]] = field(default_factory=list)

    def receive(self, records: list[dict[str, Any]]) -> None:
        """Land the records by the hour they were received, then build the raw, cleaned and people layers of
        those days as the cascade would (features read nothing else)."""
        by_hour: dict[datetime, list[dict[str, Any]]] = {}
        for record in records:
            received = datetime.fromtimestamp(record["receivedAt"] / 1000, UTC)
            by_hour.setdefault(received.replace(minute=0, second=0, microsecond=0), []).append(record)
        for hour, hour_records in by_hour.items():
            lines = b"".join(orjson.dumps(record) + b"\n" for record in hour_records)
            self.store.put(landed_object_key(LANDING, hour, "c1", "000001"), gzip.compress(lines))
        received_days = sorted({hour.date() for hour in by_hour})
        raw = self.builder.raw_days(received_days)
        touched = {date.fromisoformat(day) for built in raw for day in built.profile.assigned_dates}
        event_days = sorted(self.builder.rules.days_to_clean(set(received_days), touched))
        self.builder.event_days(event_days)
        self.builder.people_days(event_days)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureLake]:
    """The lake of everything before the cutoff, with the features as of it taken then (`features_before`);
    then what came from the cutoff on, landed and built into the same lake."""
    folder = tmp_path_factory.mktemp("features")
    (folder / "work").mkdir()
    store = ObjectStore((folder / "store").as_uri())
    with duckdb_connection() as connection:
        builder = DayBuilder(store, DEFAULT_RULES, folder / "work", connect=lambda: nullcontext(connection))
        lake = FeatureLake(store, connection, builder)
        lake.receive(_before_cutoff())
        lake.features_before = _features(lake)
        lake.receive(_from_cutoff())
        yield lake


def _features(lake: FeatureLake) -> list[dict[str, Any]]:
    rows = person_features(lake.store, lake.connection, CUTOFF).to_pylist()
    return [{**row, "feature_usage_28d": dict(row["feature_usage_28d"])} for row in rows]


def test_features_are_unchanged_by_anything_from_the_cutoff_on(lake: FeatureLake) -> None:
    assert max(committed_days(lake.store, PEOPLE)) >= CUTOFF + timedelta(days=3)
    assert _features(lake) == lake.features_before


def test_features_count_the_windows_before_the_cutoff(lake: FeatureLake) -> None:
    by_person = {row["person_id"]: row for row in _features(lake)}
    assert sorted(by_person) == ["u1", "u2"]  # u3 was last active 29 days before: not in the 28-day window
    u1, u2 = by_person["u1"], by_person["u2"]
    recency_and_days = ("days_since_last_active", "active_days_7d", "active_days_14d", "active_days_28d")
    assert [u1[name] for name in recency_and_days] == [1, 7, 14, 14]
    assert (u1["events_7d"], u1["events_28d"], u1["sessions_7d"], u1["sessions_28d"]) == (10, 17, 10, 17)
    assert u1["feature_usage_28d"] == {"Report Viewed": 3, "Timer Started": 14}
    assert (u1["feature_events_28d"], u1["distinct_features_28d"]) == (17, 2)
    # Trend: the last week's active-day rate against the three weeks before it.
    assert u1["active_days_trend"] == pytest.approx(7 / 7 - 7 / 21)
    assert u1["days_since_first_seen"] == 14
    assert (u2["days_since_last_active"], u2["active_days_7d"], u2["active_days_28d"]) == (2, 1, 3)
    assert (u2["days_since_first_seen"], u2["primary_platform"], u2["app_version"]) == (20, "ios", "2.0")
    assert u2["on_latest_app_version"] == 1
    # Rhythm and shape: u1 came every day (the last week 10 of 17 sessions, 7 in the week before); u2 came 20, 9 and
    # 2 days before, Saturday then twice a Wednesday (gaps of 11 and 7 days, the silence now 1 day).
    shape = (
        "sessions_share_7d",
        "active_days_share_7d",
        "longest_gap_days_28d",
        "mean_gap_days_28d",
        "silence_beyond_longest_gap",
        "active_weekdays_28d",
        "sessions_before_silence_7d",
        "trend_before_silence",
        "burst_before_silence",
    )
    assert [u1[name] for name in shape] == pytest.approx([10 / 17, 0.5, 0, 1.0, 0, 7, 10, 3 / 17, 10 / (17 / 4)])
    assert [u2[name] for name in shape] == pytest.approx([1 / 3, 1 / 3, 10, 9.0, -9, 2, 1, 0.0, 4 / 3])
    assert u1["session_seconds_trend"] is None  # one-event sessions last no time: no change to measure
    assert set(NUMERIC_FEATURES) <= set(u1)


def test_churn_label_is_no_activity_in_the_horizon(lake: FeatureLake) -> None:
    store = lake.store
    features = person_features(store, lake.connection, CUTOFF)
    rows = churn_labels(store, lake.connection, features, CUTOFF, 4).to_pylist()
    # u1 came back at the cutoff's very midnight; u3's return does not make them a person of the cutoff.
    assert {row["person_id"]: row["churned"] for row in rows} == {"u1": 0, "u2": 1}


def test_no_label_before_its_horizon_is_built(lake: FeatureLake) -> None:
    store = lake.store
    built_after = (max(committed_days(store, PEOPLE)) - CUTOFF).days + 1  # days built from the cutoff on
    assert labelled(store, CUTOFF, built_after)
    assert not labelled(store, CUTOFF, built_after + 1)
    features = person_features(store, lake.connection, CUTOFF)
    with pytest.raises(FileNotFoundError, match="not all built"):
        churn_labels(store, lake.connection, features, CUTOFF, built_after + 1)
