"""A lake day is read only as its last complete write: a failure part way leaves it refused, never half read."""

import json
from datetime import date
from pathlib import Path

import pytest

from revolt_pipeline.layers.commits import (
    CLEANED_EVENTS,
    RAW_EVENTS,
    IncompleteDay,
    committed,
    committed_days,
    committing,
    is_committed,
)
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import commit_key, events_key, events_quarantine_key

DAY = date(2026, 11, 18)
KEYS = [events_key(DAY), events_quarantine_key(DAY)]


class Refused(OSError):
    """What the store raises when S3 refuses a request."""


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path.as_uri())


def write_day(store: ObjectStore, version: bytes, fail_after: int | None = None) -> None:
    with committing(store, CLEANED_EVENTS, DAY) as commit:
        for number, key in enumerate(KEYS):
            if number == fail_after:
                raise Refused("AWS Error NETWORK_CONNECTION during PutObject")
            commit.put(key, version)


def test_a_day_written_whole_is_committed_with_the_list_of_its_objects(store: ObjectStore) -> None:
    write_day(store, b"v1")

    assert committed(store, CLEANED_EVENTS, DAY, KEYS)
    record = json.loads(store.get(commit_key(CLEANED_EVENTS.name, DAY)))
    assert record == {"layer": "cleaned_events", "day": "2026-11-18", "objects": sorted(KEYS)}
    assert committed_days(store, CLEANED_EVENTS) == {DAY}
    assert committed_days(store, RAW_EVENTS) == set()


def test_a_failure_between_two_objects_leaves_the_day_refused_until_it_is_written_again(store: ObjectStore) -> None:
    write_day(store, b"v1")
    with pytest.raises(Refused):
        write_day(store, b"v2", fail_after=1)

    assert store.get(KEYS[0]) == b"v2" and store.get(KEYS[1]) == b"v1"  # half new, half old
    with pytest.raises(IncompleteDay) as refused:
        committed(store, CLEANED_EVENTS, DAY, KEYS)
    assert "events and events_quarantine of 2026-11-18 is incomplete" in str(refused.value)
    assert events_key(DAY) in str(refused.value)
    assert "until cleaned_events is materialized for 2026-11-18 again" in str(refused.value)
    assert isinstance(refused.value, FileNotFoundError)  # callers treat it as a missing input

    write_day(store, b"v3")
    assert committed(store, CLEANED_EVENTS, DAY, KEYS)
    assert [store.get(key) for key in KEYS] == [b"v3", b"v3"]


def test_a_failure_before_the_first_object_keeps_the_previous_version_readable(store: ObjectStore) -> None:
    write_day(store, b"v1")
    with pytest.raises(Refused):
        write_day(store, b"v2", fail_after=0)

    assert committed(store, CLEANED_EVENTS, DAY, KEYS)
    assert [store.get(key) for key in KEYS] == [b"v1", b"v1"]


def test_a_first_write_that_failed_is_refused_and_a_day_never_written_is_not(store: ObjectStore) -> None:
    assert not committed(store, CLEANED_EVENTS, DAY, KEYS)
    with pytest.raises(Refused):
        write_day(store, b"v1", fail_after=1)

    assert not is_committed(store, CLEANED_EVENTS, DAY)
    with pytest.raises(IncompleteDay):
        committed(store, CLEANED_EVENTS, DAY, KEYS)
