"""The retention policy deletes landing objects and raw days past the limit, on a local folder and on S3, and keeps
what the pipeline still reads; a rebuild that would read an expired day is refused."""

import gzip
import json
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from revolt_pipeline.layers.cleaned import clean_days
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.raw import build_raw_day
from revolt_pipeline.layers.retention_policy import (
    EXPIRED,
    RawDayExpired,
    apply_retention_policy,
    check_retention_days,
    minimum_days,
)
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    LANDING,
    QUARANTINE,
    commit_key,
    events_key,
    identity_links_key,
    landed_object_key,
    raw_events_key,
    raw_profile_key,
)
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.transforms.harness import at, landed

RULES = PipelineRules()
FIRST = date(2026, 11, 2)
BUILT = [FIRST, date(2026, 11, 3), date(2026, 11, 4)]  # received and built
UNBUILT = date(2026, 10, 30)  # landed, never built into raw_events
TODAY = date(2026, 11, 10)
LIMIT = 6  # received before the 4th expires
KEPT = date(2026, 11, 4)


def land(store: ObjectStore, day: date, area: str = LANDING) -> None:
    received = at(f"{day} 10:00")
    record = landed(f"m-{day}", received, user_id="ada", traits={"email": "ada@example.com"}, kind="identify")
    store.put(landed_object_key(area, received, "c1", "000001"), gzip.compress(orjson.dumps(record) + b"\n"))


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """A local folder, or S3 (moto) for a test parametrizing it with "s3"."""
    if getattr(request, "param", "local") == "local":
        yield ObjectStore((tmp_path / "store").as_uri())
    else:
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        yield ObjectStore(bucket.url("lake"), s3_endpoint_url=bucket.endpoint_url)


@pytest.fixture
def lake(store: ObjectStore, tmp_path: Path) -> Iterator[tuple[ObjectStore, DayBuilder]]:
    """Three received days built into raw_events; an older landed day never built; bodies the collector refused."""
    for day in [*BUILT, UNBUILT]:
        land(store, day)
    land(store, FIRST, QUARANTINE)
    (tmp_path / "work").mkdir()
    with duckdb_connection(threads=1) as connection:
        builder = DayBuilder(store, RULES, tmp_path / "work", connect=lambda: nullcontext(connection))
        builder.raw_days(BUILT)
        yield store, builder


def keys(store: ObjectStore, prefix: str) -> list[str]:
    return [info.key for info in store.list(prefix)]


@pytest.mark.parametrize("store", ["local", "s3"], indirect=True)
def test_landing_and_raw_days_past_the_limit_are_deleted_and_what_the_pipeline_reads_is_kept(lake) -> None:
    store, _ = lake
    run = apply_retention_policy(store, TODAY, LIMIT, RULES)

    expired = [day for day in BUILT if day < KEPT]
    assert run.cutoff == KEPT
    assert run.raw_events == [str(day) for day in expired]
    assert run.landing == {str(day): 1 for day in expired}
    assert run.quarantine == {str(FIRST): 1}
    assert run.unbuilt == [str(UNBUILT)]  # never processed: kept, and said so
    assert keys(store, "raw_events/") == [raw_events_key(KEPT)]
    assert keys(store, "landing/") == [
        landed_object_key(LANDING, at(f"{day} 10:00"), "c1", "000001") for day in (UNBUILT, KEPT)
    ]
    assert keys(store, "quarantine/") == []
    # Identity links (every cleaning stitches with them) and profiles (no values) stay, committed.
    assert keys(store, "identity_links/") == [identity_links_key(day) for day in BUILT]
    assert keys(store, "raw_profiles/") == [raw_profile_key(day) for day in BUILT]
    record = json.loads(store.get(commit_key("raw_events", FIRST)))
    assert record["objects"] == sorted([identity_links_key(FIRST), raw_profile_key(FIRST)])
    assert record[EXPIRED]["objects"] == [raw_events_key(FIRST)]
    if store.is_local:  # no empty folder left behind
        assert not Path(store.path(f"landing/received_date={FIRST}")).exists()

    again = apply_retention_policy(store, TODAY, LIMIT, RULES)
    assert (again.deleted_objects, again.unbuilt) == (0, [str(UNBUILT)])


def test_a_run_stopped_between_marking_and_deleting_is_finished_by_the_next(
    lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = lake

    def connection_reset(key: str) -> None:
        raise OSError("connection reset")

    with monkeypatch.context() as patched:
        patched.setattr(store, "delete", connection_reset)
        with pytest.raises(OSError, match="reset"):
            apply_retention_policy(store, TODAY, LIMIT, RULES)
    assert EXPIRED in json.loads(store.get(commit_key("raw_events", FIRST)))
    assert store.exists(raw_events_key(FIRST))  # marked, not yet deleted

    run = apply_retention_policy(store, TODAY, LIMIT, RULES)
    assert str(FIRST) in run.raw_events and not store.exists(raw_events_key(FIRST))


def test_rebuilding_from_an_expired_raw_day_is_refused_and_the_built_day_kept(lake, tmp_path: Path) -> None:
    store, _ = lake
    with duckdb_connection(threads=1) as connection:
        list(clean_days(store, connection, [date(2026, 11, 2)], RULES, tmp_path / "work"))
    before = store.get(events_key(date(2026, 11, 2)))
    apply_retention_policy(store, TODAY, LIMIT, RULES)

    with duckdb_connection(threads=1) as connection:
        with pytest.raises(RawDayExpired, match="2026-11-02"):
            list(clean_days(store, connection, [date(2026, 11, 2)], RULES, tmp_path / "work"))
        with pytest.raises(RawDayExpired, match="2026-11-03"):
            build_raw_day(store, connection, date(2026, 11, 3), RULES, tmp_path / "work")
    assert store.get(events_key(date(2026, 11, 2))) == before
    assert store.exists(identity_links_key(date(2026, 11, 3)))


def test_a_limit_shorter_than_what_the_pipeline_reads_is_refused_and_zero_keeps_everything(lake) -> None:
    store, _ = lake
    assert minimum_days(RULES) == 6  # yesterday's events reopen 3 days before, sessions 1 more, cleaning reads 1 more
    assert minimum_days(PipelineRules(lateness=timedelta(days=10))) == 13
    with pytest.raises(ValueError, match="at least 6 days"):
        check_retention_days(5, RULES)
    run = apply_retention_policy(store, TODAY, 0, RULES)
    assert (run.deleted_objects, run.unbuilt) == (0, [])
    assert len(keys(store, "raw_events/")) == len(BUILT)
