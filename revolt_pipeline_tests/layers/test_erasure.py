"""`erase_person` on a small lake built through every layer (and the models trained on it): a person with a stitched
anonymous past goes from every object, the rows of others that name them stay with exactly the person's ids blanked,
everyone else's rows stay as they were, and a crash anywhere, then a re-run, ends in the store one uninterrupted run
makes, on a local folder and on S3.

The ground truth of the blanking is planted in the traffic (`_traffic(blanked=...)`): user-b invites the person
(`invitedBy`), names their old id and files a score under their id in traits, user-d uses the person's device, and a
refused body of user-b names their device. Sent blanked by construction (null where the person's id was, the member
keyed by their id gone), without the person's own messages, the same traffic builds the lake the erasure must end in.

The lake is built once per module and copied into a fresh store per test: the erasure rewrites it.
"""

import base64
import gzip
import io
import json
import pickle
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.checks import clean_day_checks, people_day_checks, session_day_checks
from revolt_pipeline.layers.commits import COMMITS
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.deletion import Removed
from revolt_pipeline.layers.erasure import Erasure, erase_person, partition_day
from revolt_pipeline.layers.ml import build_person_features
from revolt_pipeline.layers.privacy import OWNER_COLUMNS, PersonMatcher, find_person_ids, person_holdings
from revolt_pipeline.layers.recommendations import RecommenderSettings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, QUARANTINE, erasure_progress_key, landed_object_key
from revolt_pipeline.transforms.engine import duckdb_connection, parquet
from revolt_pipeline.transforms.funnels import parse_funnels
from revolt_pipeline.transforms.privacy import ID_COLUMNS
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.faults import FaultyProxy
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.transforms.harness import at, land_by_hour, landed

# The person erased: an anonymous visitor who logged in as user-a, once known as old-a (an alias renamed them).
PERSON_IDS = ["anon-a", "old-a", "user-a"]
OTHERS = ["anon-b", "anon-c", "anon-d", "user-b", "user-d"]
TIMER_FUNNEL = """
[[funnels]]
name = "timer"
window = "1h"
steps = [{ type = "track", event = "Timer Started" }, { type = "track", event = "Timer Stopped" }]
"""
DAYS = [date(2026, 11, 20), date(2026, 11, 21)]
REQUEST = "req-1"
RULES = PipelineRules(funnels=parse_funnels(TIMER_FUNNEL, "test"))

Objects = dict[str, bytes]


@dataclass(frozen=True)
class Snapshot:
    """A store (never written again) and every object it holds."""

    store: ObjectStore
    objects: Objects


def _traffic(*, blanked: bool = False) -> list[dict[str, Any]]:
    """Two days of four people: the person (anonymous, then identified), user-b and user-d (identified on devices
    of their own) and anon-c (never identified). Others name the person in a few messages: `blanked`, those
    messages are sent as the erasure must leave them."""
    records = []

    def add(when: str, **fields: Any) -> dict[str, Any]:
        records.append(landed(f"m{len(records):04d}", at(when), **fields))
        return records[-1]

    def person(value: str) -> str | None:
        return None if blanked else value

    for day in DAYS:
        add(f"{day} 09:00", user_id=None, anonymous_id="anon-a", event="Viewed", properties={"plan": "free"})
        add(f"{day} 09:05", kind="identify", user_id="user-a", anonymous_id="anon-a", event=None, traits={"n": 1})
        add(f"{day} 09:10", user_id="user-a", event="Timer Started")
        add(f"{day} 10:00", user_id="user-b", anonymous_id="anon-b", event="Timer Started")
        add(f"{day} 10:10", user_id="user-b", event="Timer Stopped")
        add(f"{day} 10:20", user_id=None, anonymous_id="anon-b", event="Viewed", properties={"plan": "pro"})
        add(f"{day} 11:00", user_id=None, anonymous_id="anon-c", event="Viewed")
        add(f"{day} 11:05", user_id=None, anonymous_id="anon-c", event="Timer Started")
        for minute, event in enumerate(("Viewed", "Timer Started", "Timer Stopped")):  # suggested to the person
            add(f"{day} 12:0{minute}", user_id="user-d", anonymous_id="anon-d", event=event)
        # Someone else's event naming the person as a value.
        add(f"{day} 10:30", user_id="user-b", event="Invited", properties={"invitedBy": person("user-a"), "n": 2})
    # user-b's traits name the person's old id, and file a score under the person's user id.
    traits = {"referredBy": person("old-a"), "friends": {} if blanked else {"user-a": 3}}
    add(f"{DAYS[0]} 10:40", kind="identify", user_id="user-b", event=None, traits=traits)
    # user-d on the person's device, after the person was identified on it: user-d's event, the device blanked.
    shared = add(f"{DAYS[1]} 12:30", user_id="user-d", anonymous_id="anon-a", event="Viewed")
    if blanked:
        shared["message"]["anonymousId"] = None
    add(f"{DAYS[1]} 12:00", kind="alias", user_id="user-a", previous_id="old-a", event=None)
    # Refused by cleaning (a track without an event name): quarantined rows name their sender in the message only.
    add(f"{DAYS[1]} 13:00", user_id="user-a", event=None)
    add(f"{DAYS[1]} 13:05", user_id="user-b", event=None)
    return records


REFUSED_OF_PERSON = b'{"userId": "user-a", "type": "track", "event": '
REFUSED_OF_OTHERS = b'{"anonymousId": "anon-b", "type": '
# A body of user-b refused whole (it parses: an unknown write key, say), naming the person's device.
REFUSED_NAMING_PERSON = b'{"batch": [{"userId": "user-b", "type": "track", "context": {"device": "anon-a"}}]}'
REFUSED_NAMING_PERSON_BLANKED = b'{"batch": [{"userId": "user-b", "type": "track", "context": {"device": null}}]}'


def _land(
    store: ObjectStore,
    records: list[dict[str, Any]],
    refused: tuple[bytes, ...] = (REFUSED_OF_PERSON, REFUSED_OF_OTHERS, REFUSED_NAMING_PERSON),
) -> None:
    land_by_hour(store, records)
    # Bodies the collector refused, kept in base64 in its quarantine: one of the person's, two of user-b's.
    bodies = [
        {"reason": "invalid_json", "payload": None, "payloadBase64": base64.b64encode(body).decode()}
        for body in refused
    ]
    lines = b"".join(json.dumps(record).encode() + b"\n" for record in bodies)
    store.put(landed_object_key(QUARANTINE, at(f"{DAYS[0]} 09:00"), "c1", "000001"), gzip.compress(lines))


def _contents(store: ObjectStore) -> Objects:
    keys = [info.key for info in store.list()]
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(keys, pool.map(store.get, keys), strict=True))


def _copy(objects: Objects, store: ObjectStore) -> ObjectStore:
    """The objects in `store`: written as files for a local folder (a copy of a test lake needs no fsync), put in
    parallel on S3."""
    if store.is_local:
        for key, data in objects.items():
            path = Path(store.path(key))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return store
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store.put, objects, objects.values()))
    return store


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Every object of the lake: landed, raw, cleaned, sessions, people, funnels, retention, the models' outputs."""
    folder = tmp_path_factory.mktemp("erasure-lake")
    store = ObjectStore((folder / "store").as_uri())
    _land(store, _traffic())
    with duckdb_connection() as connection:
        builder = DayBuilder(store, RULES, folder, connect=lambda: nullcontext(connection))
        builder.every_layer(DAYS)
        builder.recommendations([DAYS[-1]], RecommenderSettings(training_days=2, holdout_days=1))
        builder.segments([DAYS[-1]])
        build_person_features(store, connection, date(2026, 11, 22), folder)
    # A model that remembers the people it saw (not row data), and one that names no one.
    store.put("models/churn/as_of_date=2026-11-21/model.pkl", pickle.dumps({"people": ["user-a", "user-b"]}))
    store.put("models/other/as_of_date=2026-11-21/model.pkl", pickle.dumps({"weights": [0.5, 0.25]}))
    return Snapshot(store, _contents(store))


@dataclass(frozen=True)
class Erased(Snapshot):
    erasure: Erasure


@pytest.fixture(scope="module")
def erased(lake: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Erased:
    """One uninterrupted erasure of the person, on a local copy of the lake: the reference every other run ends in."""
    store = _copy(lake.objects, ObjectStore((tmp_path_factory.mktemp("erased") / "store").as_uri()))
    erasure = erase_person(store, PERSON_IDS, request_id=REQUEST)
    return Erased(store, _contents(store), erasure)


def _local(lake: Snapshot, tmp_path: Path) -> ObjectStore:
    return _copy(lake.objects, ObjectStore((tmp_path / "store").as_uri()))


# What the test takes as naming the person, whose a row is, and what blanking leaves, written independently of the
# matcher: an id in an id column, or a JSON text (a message as sent, or refused and kept in base64; properties, traits,
# context) holding one as a JSON string. A row is the person's when its first id column with a value (or else its
# message's userId, anonymousId, previousId) is theirs; a link between two ids goes when it names them.
JSON_TEXT = ("message", "properties", "traits", "context", "batch_context")


def _row_names(row: dict[str, Any], ids: list[str]) -> bool:
    if any(row.get(column) in ids for column in ID_COLUMNS):
        return True
    return any(f'"{value}"' in str(row.get(column) or "") for column in JSON_TEXT for value in ids)


def _is_persons(row: dict[str, Any], ids: list[str]) -> bool:
    owner = next((row[column] for column in OWNER_COLUMNS if row.get(column) is not None), None)
    if owner is None and row.get("message"):
        message = json.loads(row["message"])
        owner = next((message[name] for name in ("userId", "anonymousId", "previousId") if message.get(name)), None)
    return owner is None or owner in ids or row.get("from_id") in ids or row.get("to_user_id") in ids


def _blank_text(text: str, ids: list[str]) -> str:
    """A JSON text with each string value equal to an id made null, and each member keyed by one (`"id":3`) cut."""
    names = "|".join(re.escape(value) for value in ids)
    text = re.sub(rf'"(?:{names})"(?=\s*[,}}\]])', "null", text)
    return re.sub(rf'"(?:{names})":\s*\d+', "", text)


def _blank_row(row: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    blanked = {column: None if column in ID_COLUMNS and value in ids else value for column, value in row.items()}
    for column in JSON_TEXT:
        if isinstance(blanked.get(column), str):
            blanked[column] = _blank_text(blanked[column], ids)
    return blanked


def _expected_rows(rows: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The rows as an erasure must leave them: the person's gone, the others' naming them blanked, in their order."""
    return [
        _blank_row(row, ids) if _row_names(row, ids) else row
        for row in rows
        if not (_row_names(row, ids) and _is_persons(row, ids))
    ]


def _record_names(line: bytes, ids: list[str]) -> bool:
    record = json.loads(line)
    text = base64.b64decode(record["payloadBase64"]) if record.get("payloadBase64") else line
    return any(f'"{value}"'.encode() in text for value in ids)


def _expected_records(lines: list[bytes], ids: list[str]) -> list[bytes]:
    """Landed or quarantined records as an erasure must leave them: the person's gone (a refused body that does not
    parse is nobody's else), the others' naming them blanked, a refused body decoded, blanked and encoded again."""
    expected = []
    for line in lines:
        if not _record_names(line, ids):
            expected.append(line)
            continue
        record = json.loads(line)
        if record.get("payloadBase64"):
            body = base64.b64decode(record["payloadBase64"])
            try:
                json.loads(body)
            except ValueError:
                continue
            blanked = base64.b64encode(_blank_text(body.decode(), ids).encode()).decode()
            expected.append(line.replace(record["payloadBase64"].encode(), blanked.encode()))
        elif not _is_persons({"message": json.dumps(record["message"])}, ids):
            expected.append(_blank_text(line.decode(), ids).encode())
    return expected


def _records(data: bytes) -> list[bytes]:
    return gzip.decompress(data).splitlines(keepends=True)


def _parquet(data: bytes) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(data))


def test_the_person_goes_from_every_layer_and_everyone_else_stays_as_they_were(lake: Snapshot, erased: Erased) -> None:
    erasure, after = erased.erasure, erased.objects
    with duckdb_connection() as connection:
        assert find_person_ids(lake.store, connection, ["old-a"]) == PERSON_IDS  # the stitched past found

    changed = set(erasure.objects_rewritten) | set(erasure.objects_deleted)
    assert set(after) == (set(lake.objects) - set(erasure.objects_deleted)) | {erasure_progress_key(REQUEST)}
    assert erasure.objects_not_rewritten == ["models/churn/as_of_date=2026-11-21/model.pkl"]
    redacted: dict[str, int] = {}  # per layer, the rows of others expected blanked
    for key, before in lake.objects.items():
        layer = key.split("/", 1)[0]
        if key in erasure.objects_deleted:
            assert key.endswith(".jsonl.gz") and _expected_records(_records(before), PERSON_IDS) == []
        elif key in changed and key.endswith(".jsonl.gz"):
            # The others' records byte for byte, in their order, those naming the person blanked.
            assert _records(after[key]) == _expected_records(_records(before), PERSON_IDS), key
            blanked = [line for line in _records(after[key]) if line not in _records(before)]
            if blanked:
                redacted[layer] = redacted.get(layer, 0) + len(blanked)
        elif key in changed:
            old, new = _parquet(before), _parquet(after[key])
            assert new.schema_arrow.equals(old.schema_arrow, check_metadata=True), key
            assert new.metadata.metadata == old.metadata.metadata, key
            rows = old.read().to_pylist()
            kept = _expected_rows(rows, PERSON_IDS)
            assert new.read().to_pylist() == kept, key  # every other value as it was, in its order
            others_naming = [row for row in rows if _row_names(row, PERSON_IDS) and not _is_persons(row, PERSON_IDS)]
            if others_naming:
                redacted[layer] = redacted.get(layer, 0) + len(others_naming)
            assert len(kept) < old.metadata.num_rows or others_naming, key
        elif key in erasure.profiles_recounted:
            raw = _parquet(after[key.replace("raw_profiles/", "raw_events/").replace(".json", "/events.parquet")])
            profile, was = json.loads(after[key]), json.loads(before)
            assert profile["rows"] == raw.metadata.num_rows < was["rows"]
            assert sum(profile["rows_by_assigned_date"].values()) == profile["rows"]
            day_landed = key.replace("raw_profiles/", "landing/").replace(".json", "/")
            deleted = [name for name in erasure.objects_deleted if name.startswith(day_landed)]
            assert profile["landed_objects"] == was["landed_objects"] - len(deleted)
        else:
            assert after[key] == before, key  # commit records, aggregates, models naming no one: untouched

    # Every layer that holds people lost the person, each on the days they were there.
    layers = {key.split("/", 1)[0] for key in changed}
    assert {
        "landing",
        "quarantine",
        "raw_events",
        "identity_links",
        "events",
        "events_quarantine",
        "sessionized_events",
        "sessions",
        "people",
        "person_days",
        "people_reports",
        "funnel_progress",
        "cohort_activity",
        "person_features",
        "recommendations",
        "segments",
    } <= layers
    assert set(erasure.rows_removed) == layers and erasure.days["events"] == DAYS
    assert erasure.rows_removed["landing"] == erasure.rows_removed["raw_events"] == 2 * 3 + 2
    assert erasure.rows_removed["events_quarantine"] == 1 and erasure.rows_removed["quarantine"] == 1
    # The planted references: two invitations, the traits, the shared device's event; the refused body naming them.
    planted = {"landing": 4, "raw_events": 4, "events": 4, "sessionized_events": 4, "quarantine": 1}
    assert erasure.rows_of_others_redacted == redacted and planted.items() <= redacted.items()
    assert {"people", "person_days"} <= set(redacted)  # user-b's traits
    # The person's device linked on each day, their alias, and user-d's link from the person's device (it links
    # nothing once blanked): not blanked, gone.
    assert erasure.rows_removed["identity_links"] == 2 + 1 + 1

    # Nothing of the person is found any more, not even in the rows blanked; the others are, as much as before (but
    # user-d's link from the person's device).
    store = erased.store
    assert _holding(store) == erasure.objects_not_rewritten  # the model: retrained by the caller
    for other in OTHERS:
        links = "identity_links/"
        found = {key: rows for key, rows in _found(store, other).items() if not key.startswith(links)}
        assert found == {key: rows for key, rows in _found(lake.store, other).items() if not key.startswith(links)}
    with duckdb_connection() as connection:
        assert find_person_ids(store, connection, ["user-d"]) == ["anon-d", "user-d"]


# Layers that count people rather than list them: an erasure leaves them for the caller to rebuild from `days`.
AGGREGATE_LAYERS = {"aggregates", "active_users", "funnel_steps", "lifecycle", "retention"}


@pytest.fixture(scope="module")
def without(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The lake built from the same traffic without the person's messages (and refused bodies), the others' naming
    them sent blanked."""

    def theirs(record: dict[str, Any]) -> bool:
        return any(record["message"].get(field) in PERSON_IDS for field in ("userId", "anonymousId", "previousId"))

    folder = tmp_path_factory.mktemp("without")
    store = ObjectStore((folder / "store").as_uri())
    records = [record for record in _traffic(blanked=True) if not theirs(record)]
    _land(store, records, refused=(REFUSED_OF_OTHERS, REFUSED_NAMING_PERSON_BLANKED))
    with duckdb_connection() as connection:
        DayBuilder(store, RULES, folder, connect=lambda: nullcontext(connection)).every_layer(DAYS)
    return Snapshot(store, _contents(store))


def test_every_layer_of_the_erased_lake_is_the_lake_built_without_the_person(erased: Erased, without: Snapshot) -> None:
    """Everyone else's rows, compared with those of a lake built from the traffic without the person's messages (as
    sets of rows: the engine's row order is its own); the aggregates still count the person, on days `days` names."""
    store = without.store

    changed_days = {day for days in erased.erasure.days.values() for day in days}
    changed_days |= {day - timedelta(days=day.weekday()) for day in changed_days}  # weekly tables: by their Monday
    models = (
        "recommendations",
        "segments",
        "person_features",
        "models",
        "privacy",
        *(f"_commits/{name}/" for name in ("recommendations", "segments", "person_features")),
    )
    assert {key for key in erased.objects if not key.startswith(models)} == set(without.objects)
    with duckdb_connection(threads=1) as connection:
        for key, data in without.objects.items():
            if key.endswith(".jsonl.gz"):
                assert _records(erased.objects[key]) == _records(data), key
            elif key.endswith(".parquet"):
                rows, expected = _parquet(erased.objects[key]).read(), _parquet(data).read()
                # Columns and types (a build whose query differs may declare a column NOT NULL; the erasure keeps the
                # original's schema, checked in the test above).
                assert [(f.name, f.type) for f in rows.schema] == [(f.name, f.type) for f in expected.schema], key
                read_as = _duckdb_types(connection, erased.store, key)
                assert read_as == _duckdb_types(connection, store, key), key  # as the transforms read them
                same = sorted(map(repr, rows.to_pylist())) == sorted(map(repr, expected.to_pylist()))
                if key.split("/", 1)[0] in AGGREGATE_LAYERS:  # untouched: still counting the person, on a day named
                    day = partition_day(key)
                    assert key not in erased.erasure.objects_rewritten and (same or day in changed_days), key
                else:
                    assert same, key
            else:
                assert erased.objects[key] == data, key  # commit records, raw profiles (counted again)


def test_rebuilding_the_event_days_named_makes_every_aggregate_count_without_the_person(
    erased: Erased, without: Snapshot, tmp_path: Path
) -> None:
    """What the deletion job does after the erasure: the cleaned layer, then people, funnels and retention of
    `event_days`, rebuilt as the cascade builds them. Every table then equals the lake's built without the person,
    and every check of the days rebuilt passes."""
    store = _copy(erased.objects, ObjectStore((tmp_path / "store").as_uri()))
    days = erased.erasure.event_days
    assert days == DAYS
    with duckdb_connection() as connection:
        builder = DayBuilder(store, RULES, tmp_path, connect=lambda: nullcontext(connection))
        layers = builder.event_days(days)
        people = builder.people_days(days)
        builder.funnel_days(days)
        builder.retention_days([day.day for day in people])
    outcomes = [
        *(outcome for day in layers.cleaned for outcome in clean_day_checks(day)),
        *(outcome for day in layers.sessions for outcome in session_day_checks(day)),
        *(outcome for day in people for outcome in people_day_checks(day)),
    ]
    assert outcomes and [outcome for outcome in outcomes if not outcome.passed] == []

    for key, data in without.objects.items():
        if key.endswith(".parquet"):
            rows, expected = pq.read_table(store.path(key)), _parquet(data).read()
            assert sorted(map(repr, rows.to_pylist())) == sorted(map(repr, expected.to_pylist())), key
    # Rebuilt from the blanked raw rows: user-d's event from the person's device stitches nothing to anyone, and
    # nothing rebuilt names the person.
    assert _holding(store) == erased.erasure.objects_not_rewritten


def test_committed_days_still_read_as_committed_and_whole(erased: Erased) -> None:
    after = erased.objects
    records = [json.loads(data) for key, data in after.items() if key.startswith(COMMITS + "/")]
    assert records
    for record in records:
        assert all(key in after for key in record["objects"]), record  # a Parquet day is rewritten, never deleted


def test_a_second_run_changes_nothing(erased: Erased, tmp_path: Path) -> None:
    erasure, after = erased.erasure, erased.objects
    store = _copy(after, ObjectStore((tmp_path / "store").as_uri()))
    again = erase_person(store, PERSON_IDS, request_id=REQUEST)
    assert again == erasure  # it reports the request, as the first run did
    assert _contents(store) == after


def test_a_rerun_after_a_crash_ends_in_the_store_of_an_uninterrupted_run(
    lake: Snapshot, erased: Erased, tmp_path: Path
) -> None:
    """Killed once a raw day that lost the person's rows and had others' rows blanked was replaced: the re-run finds
    nothing more there, and neither blanks again nor forgets what that day lost (its progress record kept it). The S3
    test below stops before an object is replaced: the other side of the record."""
    store = _local(lake, tmp_path)
    raw_day = "raw_events/received_date=2026-11-21/events.parquet"

    def crash(key: str) -> None:
        if key == raw_day:
            raise KeyboardInterrupt("killed")  # what a kill does: nothing below catches it

    with pytest.raises(KeyboardInterrupt):
        erase_person(store, PERSON_IDS, request_id=REQUEST, after_object=crash)
    assert list(person_holdings(store, PERSON_IDS))  # stopped part way
    recorded = json.loads(store.get(erasure_progress_key(REQUEST)))["objects"][raw_day]
    assert recorded["rows"] > 0 and recorded["redacted"] > 0
    assert PersonMatcher.of(PERSON_IDS).holding(store, raw_day).rows == []  # replaced, blanked: nothing to find

    assert erase_person(store, PERSON_IDS, request_id=REQUEST) == erased.erasure
    assert _contents(store) == erased.objects


# The layers of the S3 test: landed and raw days, the cleaned days they make (enough objects to stop between them).
RAW_AND_CLEANED = ("landing/", "quarantine/", "raw_", "identity_links/", "events", "_commits/raw_", "_commits/cleaned_")


def test_on_s3_a_reset_mid_erasure_then_a_rerun_ends_as_an_uninterrupted_run(
    lake: Snapshot, s3_bucket: S3Bucket, faulty_s3: FaultyProxy, tmp_path: Path
) -> None:
    objects = {key: data for key, data in lake.objects.items() if key.startswith(RAW_AND_CLEANED)}
    reference = _copy(objects, ObjectStore((tmp_path / "store").as_uri()))
    uninterrupted = erase_person(reference, PERSON_IDS, request_id=REQUEST)
    store = _copy(objects, ObjectStore(s3_bucket.url("lake"), s3_endpoint_url=s3_bucket.endpoint_url))
    through_proxy = ObjectStore(s3_bucket.url("lake"), s3_endpoint_url=faulty_s3.endpoint_url)
    # S3 goes away as the person's cleaned events of the 21st are being replaced: their rows already counted.
    faulty_s3.trip_on(b"PUT " + quote(f"/{s3_bucket.name}/lake/events/event_date=2026-11-21/", safe="/").encode())
    with pytest.raises(OSError):
        erase_person(through_proxy, PERSON_IDS, request_id=REQUEST)
    assert faulty_s3.tripped.is_set()
    faulty_s3.set_mode("pass")
    assert not json.loads(store.get(erasure_progress_key(REQUEST)))["finished"]

    assert erase_person(through_proxy, PERSON_IDS, request_id=REQUEST) == uninterrupted
    assert _contents(store) == _contents(reference)
    assert {"landing", "raw_events", "identity_links", "events", "events_quarantine"} <= set(uninterrupted.rows_removed)


class _PipelineWritingDuringErasure(ObjectStore):
    """A store where a pipeline run rewrites `key` (its new version still naming the person) just as the erasure is
    about to replace it: at the moment the erasure records its intent for that key."""

    def __init__(self, url: str, key: str, new_version: bytes) -> None:
        super().__init__(url)
        self.key, self.new_version, self.written = key, new_version, False

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        if not self.written and key.startswith("privacy/") and f'"{self.key}"'.encode() in data:
            self.written = True
            super().put(self.key, self.new_version)


def test_an_object_rewritten_during_its_erasure_is_erased_in_its_new_version(
    lake: Snapshot, erased: Erased, tmp_path: Path
) -> None:
    key = "events/event_date=2026-11-21/events.parquet"
    day = _parquet(lake.objects[key]).read()
    new_version = io.BytesIO()
    pq.write_table(day.slice(0, day.num_rows - 1), new_version)  # the day rebuilt: one row fewer, the person's too
    store = _PipelineWritingDuringErasure((tmp_path / "store").as_uri(), key, new_version.getvalue())
    _copy(lake.objects, store)

    erasure = erase_person(store, PERSON_IDS, request_id=REQUEST)

    assert store.written and _holding(store) == erasure.objects_not_rewritten
    rows = _expected_rows(day.slice(0, day.num_rows - 1).to_pylist(), PERSON_IDS)
    assert pq.read_table(store.path(key)).to_pylist() == rows  # the new version, less the person
    assert erasure.objects_rewritten == erased.erasure.objects_rewritten


def test_a_request_id_must_be_fit_for_a_key(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    with pytest.raises(ValueError, match="request id"):
        erase_person(store, PERSON_IDS, request_id="../elsewhere")
    with pytest.raises(ValueError, match="ids"):
        erase_person(store, [], request_id=REQUEST)


def _duckdb_types(connection: duckdb.DuckDBPyConnection, store: ObjectStore, key: str) -> list[tuple[str, str]]:
    """The columns of a (local) Parquet object as the transforms' DuckDB reads them."""
    described = connection.execute(f"DESCRIBE SELECT * FROM {parquet(store.path(key))}").fetchall()
    return [(row[0], row[1]) for row in described]


def _holding(store: ObjectStore) -> list[str]:
    """The keys of what the store holds of the person."""
    return [holding.key for holding in person_holdings(store, PERSON_IDS)]


def _found(store: ObjectStore, identity: str) -> dict[str, int]:
    return {holding.key: len(holding.rows) for holding in person_holdings(store, [identity])}


def test_someone_elses_rows_naming_the_person_stay_blanked_and_are_counted_and_exported_as_mentions(
    tmp_path: Path,
) -> None:
    """user-b's event naming user-a in a property, and user-b's event from the person's device (anon-a), stay with
    the person's ids blanked; an export shows where they named the person, not the rows."""
    store = ObjectStore((tmp_path / "store").as_uri())
    sent = [
        ("user-a", None, None),
        ("user-b", None, {"invitedBy": "user-a"}),
        ("user-b", "anon-a", None),
        ("user-b", "anon-b", None),
    ]
    records = [
        landed(f"m{n}", at("2026-11-20 09:00"), user_id=user, anonymous_id=device, properties=properties)
        for n, (user, device, properties) in enumerate(sent)
    ]
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    landed_key = landed_object_key(LANDING, at("2026-11-20 09:00"), "c1", "000001")
    store.put(landed_key, gzip.compress(lines))
    raw = pa.table(
        {
            "user_id": [user for user, _, _ in sent],
            "anonymous_id": [device for _, device, _ in sent],
            "message": [json.dumps(record["message"]) for record in records],
            "properties": pa.array([json.dumps(p) if p else None for _, _, p in sent], pa.json_()),
            "n": [1, 2, 3, 4],
        }
    )
    pq.write_table(raw, tmp_path / "raw.parquet")
    raw_key = "raw_events/received_date=2026-11-20/events.parquet"
    store.put_file(raw_key, tmp_path / "raw.parquet")

    holdings = {holding.key: holding for holding in person_holdings(store, ["user-a", "anon-a"])}
    assert [row["n"] for row in holdings[raw_key].rows] == [1]
    assert holdings[raw_key].mentions == [
        {
            "row": 1,
            "names": [
                {"column": "message", "path": "$.properties.invitedBy", "id": "user-a"},
                {"column": "properties", "path": "$.invitedBy", "id": "user-a"},
            ],
        },
        {
            "row": 2,
            "names": [
                {"column": "anonymous_id", "id": "anon-a"},
                {"column": "message", "path": "$.anonymousId", "id": "anon-a"},
            ],
        },
    ]
    assert [mention["message_id"] for mention in holdings[landed_key].mentions] == ["m1", "m2"]
    assert "user-b" not in json.dumps([holding.mentions for holding in holdings.values()])  # nothing of theirs

    erasure = erase_person(store, ["user-a", "anon-a"], request_id=REQUEST)

    assert erasure.rows_removed == {"landing": 1, "raw_events": 1}
    assert erasure.rows_of_others_redacted == {"landing": 2, "raw_events": 2}
    after = pq.read_table(store.path(raw_key))
    assert after.schema.equals(raw.schema)
    assert after.to_pylist() == [
        {**raw.slice(1, 1).to_pylist()[0], "message": raw["message"][1].as_py().replace('"user-a"', "null")}
        | {"properties": '{"invitedBy": null}'},
        {**raw.slice(2, 1).to_pylist()[0], "anonymous_id": None}
        | {"message": raw["message"][2].as_py().replace('"anon-a"', "null")},
        raw.slice(3, 1).to_pylist()[0],
    ]
    assert _records(store.get(landed_key)) == [
        lines.splitlines(keepends=True)[1].replace(b'"user-a"', b"null"),
        lines.splitlines(keepends=True)[2].replace(b'"anon-a"', b"null"),
        lines.splitlines(keepends=True)[3],
    ]
    assert [holding.key for holding in person_holdings(store, ["user-a", "anon-a"])] == []


def test_whose_a_row_is_is_read_from_every_id_column() -> None:
    assert sorted(OWNER_COLUMNS) == sorted(ID_COLUMNS)


def test_a_rewritten_parquet_object_keeps_its_schema_metadata_codec_and_row_groups(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "person_id": ["user-b", "user-a", "user-c", "user-a", "user-d"],
            "at": pd.to_datetime(["2026-11-20T09:00:00Z"] * 5),
            "items": [["x"], [], ["y", "z"], None, ["x"]],
            "score": [0.5, 0.25, None, 1.0, 0.0],
        }
    )
    path = tmp_path / "table.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=2, compression="snappy")
    store = ObjectStore((tmp_path / "store").as_uri())
    store.put_file("segments/x/as_of_date=2026-11-20/x.parquet", path)

    erase_person(store, ["user-a"], request_id=REQUEST)

    before, after = pq.ParquetFile(path), pq.ParquetFile(store.path("segments/x/as_of_date=2026-11-20/x.parquet"))
    assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)  # pandas' metadata too
    assert after.read().equals(before.read().take([0, 2, 4]))
    groups = [after.metadata.row_group(index) for index in range(after.metadata.num_row_groups)]
    assert [group.num_rows for group in groups] == [1, 1, 1]  # each group less the person's rows
    assert {group.column(0).compression for group in groups} == {"SNAPPY"}


def test_a_request_begun_before_blanking_loads_and_keeps_its_count_of_others_rows_removed(tmp_path: Path) -> None:
    """An earlier version removed others' rows naming the person, counted as `others` in its progress record and as
    `rows_of_others` in the audit: a request it began is taken up, and still says so."""
    store = ObjectStore((tmp_path / "store").as_uri())
    raw_day = "raw_events/received_date=2026-11-20/events.parquet"
    earlier = {"objects": {raw_day: {"outcome": "rewritten", "rows": 3, "others": 2}}, "request_id": REQUEST}
    store.put(erasure_progress_key(REQUEST), json.dumps(earlier).encode())  # no `profiles_recounted`, `finished`

    erasure = erase_person(store, ["user-a"], request_id=REQUEST)

    assert (erasure.rows_removed, erasure.rows_of_others_removed) == ({"raw_events": 3}, {"raw_events": 2})
    assert erasure.rows_of_others_redacted == {}
    audit = {
        "objects_rewritten": 1,
        "objects_deleted": 0,
        "rows": {"raw_events": 3},
        "rows_of_others": {"raw_events": 2},
        "report_rows": {"people": 1},
        "not_rewritten": [],
        "days": {"raw_events": ["2026-11-20"]},
    }
    removed = Removed.from_json(json.dumps(audit))
    removed.set_erasure(erasure)
    document = json.loads(removed.to_json())
    assert document["rows_of_others"] == {"raw_events": 2} and document["rows_of_others_redacted"] == {}
    assert document["report_rows"] == {"people": 1}
    del audit["rows_of_others"]  # and one of a request that removed no one else's rows
    assert "rows_of_others" not in json.loads(Removed.from_json(json.dumps(audit)).to_json())
