"""Cleaning: every raw row ends up once, as an event or in quarantine with a reason."""

import gzip
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.cleaning import clean_events
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed, run_pipeline

D20, D21, D22, D24 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 24)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator:
    with duckdb_connection(threads=1) as connection:
        yield lambda records, rules=DEFAULT_RULES: run_pipeline(connection, tmp_path, records, rules)


def reasons(lake, day: date) -> list[tuple[str, str]]:
    return [(row["message_id"], row["reason"]) for row in lake.rows(lake.quarantine[day], order="message_id")]


def test_a_duplicate_delivery_on_a_later_raw_day_is_quarantined_and_the_first_kept(pipeline) -> None:
    event = at("2026-11-20 23:59")
    lake = pipeline(
        [
            landed("m1", event, received=event + timedelta(seconds=30), collector="c1"),
            landed("m1", event, received=event + timedelta(hours=5), collector="c2"),  # ack lost, sent again
            landed("m2", event),
        ]
    )
    kept = lake.rows(lake.events[D20], order="message_id")
    assert [row["message_id"] for row in kept] == ["m1", "m2"]
    assert kept[0]["collector"] == "c1"
    assert reasons(lake, D20) == [("m1", "duplicate")]
    assert lake.rows(lake.quarantine[D20])[0]["detail"] == "first delivery received 2026-11-20"


def test_events_later_than_the_lateness_window_are_quarantined_on_the_day_they_arrive(pipeline) -> None:
    event = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("on-time", event, received=event + timedelta(days=2, hours=23)),
            landed("too-late", event, received=event + timedelta(days=4)),
        ]
    )
    assert [row["message_id"] for row in lake.rows(lake.events[D20])] == ["on-time"]
    assert reasons(lake, D24) == [("too-late", "too_late")]
    assert lake.rows(lake.events[D24]) == []


def test_the_lateness_window_is_configurable(pipeline) -> None:
    event = at("2026-11-20 10:00")
    lake = pipeline(
        [landed("m1", event, received=event + timedelta(hours=30))], PipelineRules(lateness=timedelta(days=1))
    )
    assert reasons(lake, D21) == [("m1", "too_late")]


def test_timestamps_in_the_future_are_clamped_to_their_receipt(pipeline) -> None:
    received = at("2026-11-20 10:00")
    lake = pipeline([landed("m1", received + timedelta(days=3), received=received)])
    (event,) = lake.rows(lake.events[D20])
    assert event["event_time"] == received
    assert event["timestamp_clamped"] is True


def test_unusable_rows_are_quarantined_with_their_reason(pipeline) -> None:
    moment = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("no-ids", moment, user_id=None, anonymous_id=None),
            landed("no-name", moment, event="  "),
            landed("fine", moment),
        ]
    )
    assert [row["message_id"] for row in lake.rows(lake.events[D20])] == ["fine"]
    assert reasons(lake, D20) == [("no-ids", "missing_identity"), ("no-name", "missing_event_name")]
    assert lake.rows(lake.quarantine[D20], where="message_id = 'no-ids'")[0]["message"] is not None


def test_every_raw_row_is_accounted_for_once(pipeline) -> None:
    base = at("2026-11-20 22:00")
    records = [
        landed(f"m{n}", base + timedelta(minutes=17 * n), received=base + timedelta(minutes=17 * n, hours=n % 5))
        for n in range(40)
    ]
    records += [landed("m3", base + timedelta(minutes=51), received=base + timedelta(days=1))]  # a duplicate
    records += [landed("late", base, received=base + timedelta(days=5))]
    lake = pipeline(records)
    events = sum(len(lake.rows(path)) for path in lake.events.values())
    quarantined = sum(len(lake.rows(path)) for path in lake.quarantine.values())
    assert events + quarantined == len(records) == sum(lake.assigned.values())
    assert events == 40


def test_identities_are_stitched_from_identify_and_alias(pipeline) -> None:
    moment = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("a1", moment, user_id=None, anonymous_id="browser-1"),
            landed("a2", moment + timedelta(minutes=1), kind="identify", user_id="ada", anonymous_id="browser-1"),
            landed("b1", moment, user_id=None, anonymous_id="phone-9"),
            landed("b2", moment + timedelta(minutes=2), kind="alias", user_id="old-ada", previous_id="phone-9"),
            landed("b3", moment + timedelta(minutes=3), kind="alias", user_id="ada", previous_id="old-ada"),
            landed("c1", moment, user_id=None, anonymous_id="visitor-7"),
            landed("d1", moment + timedelta(days=1), user_id=None, anonymous_id="browser-1"),  # after, still ada
            # Three hops: a device, then a user renamed twice.
            landed("e1", moment, user_id=None, anonymous_id="tablet-3"),
            landed("e2", moment + timedelta(minutes=1), kind="identify", user_id="bo", anonymous_id="tablet-3"),
            landed("e3", moment + timedelta(minutes=2), kind="alias", user_id="bo-2", previous_id="bo"),
            landed("e4", moment + timedelta(minutes=3), kind="alias", user_id="bo-3", previous_id="bo-2"),
            # Two ids aliased to each other: one person, under the lesser id.
            landed("f1", moment, kind="alias", user_id="di", previous_id="cy"),
            landed("f2", moment + timedelta(minutes=1), kind="alias", user_id="cy", previous_id="di"),
        ]
    )
    people = {row["message_id"]: row["person_id"] for day in (D20, D21) for row in lake.rows(lake.events[day])}
    assert people == {
        **{"a1": "ada", "a2": "ada", "b1": "ada", "b2": "ada", "b3": "ada", "c1": "visitor-7", "d1": "ada"},
        **{"e1": "bo-3", "e2": "bo-3", "e3": "bo-3", "e4": "bo-3", "f1": "cy", "f2": "cy"},
    }


def test_an_unusable_first_delivery_does_not_make_a_usable_one_a_duplicate(pipeline) -> None:
    event = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("m1", event, event=" ", received=event + timedelta(seconds=1)),
            landed("m1", event, received=event + timedelta(minutes=5)),
        ]
    )
    assert [row["message_id"] for row in lake.rows(lake.events[D20])] == ["m1"]
    assert reasons(lake, D20) == [("m1", "missing_event_name")]


def _landed_file(folder: Path, segment: str, *records: dict) -> Path:
    """Records landed as one object of collector c1, in the hour the first was received."""
    received = datetime.fromtimestamp(records[0]["receivedAt"] / 1000, UTC)
    path = folder / landed_object_key(LANDING, received, "c1", segment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(record) + b"\n" for record in records)))
    return path


def _clean_landed(folder: Path, raw_days: dict[date, list[Path]], older: frozenset[date] = frozenset()) -> tuple:
    """Each received day's raw from its landed files in that order (an `older` day without `landed_file`, as raw
    written before it), then event day D20 cleaned: the events' (message id, ip), the quarantine's (message id,
    reason)."""
    raw_files = {}
    with duckdb_connection(threads=1) as connection:
        for day, landed_files in raw_days.items():
            raw = folder / f"raw-{len(list(folder.glob('raw-*')))}.parquet"
            consolidate_landed(connection, [str(path) for path in landed_files], str(raw))
            if day in older:
                pq.write_table(pq.read_table(raw).drop_columns(["landed_file"]), raw)
            raw_files[day] = str(raw)
        cleaned = clean_events(connection, event_date=D20, raw_files=raw_files, link_files=[], rules=DEFAULT_RULES)
        events = connection.execute(f"SELECT message_id, ip FROM ({cleaned.events_query}) ORDER BY 1").fetchall()
        quarantine = connection.execute(f"SELECT message_id, reason FROM ({cleaned.quarantine_query})").fetchall()
    return events, quarantine


def test_deliveries_in_one_millisecond_keep_the_earlier_landed_file_whatever_raws_row_order(tmp_path: Path) -> None:
    """A batch sent twice, both received by one collector in one millisecond and spooled to two segments: the
    earlier segment's delivery is kept, in whichever order an engine wrote raw's rows (Spark's shuffle decides
    it on a cluster)."""
    received = at("2026-11-20 10:00")
    files = [
        _landed_file(tmp_path, "1763632800000aaaaaa", landed("m1", received, client_ip="192.0.2.0")),
        _landed_file(tmp_path, "1763632800001bbbbbb", landed("m1", received, client_ip="198.51.100.0")),
    ]
    expected = ([("m1", "192.0.2.0")], [("m1", "duplicate")])
    assert _clean_landed(tmp_path, {D20: files}) == expected
    assert _clean_landed(tmp_path, {D20: files[::-1]}) == expected
    # A raw day written before raw kept the landed file's name is still cleaned, by raw's row order.
    assert _clean_landed(tmp_path, {D20: files[::-1]}, older=frozenset({D20})) == (
        [("m1", "198.51.100.0")],
        expected[1],
    )


def test_raw_days_written_before_and_after_landed_file_are_cleaned_together(tmp_path: Path) -> None:
    event = at("2026-11-20 23:00")
    today = _landed_file(tmp_path, "1", landed("m1", event, client_ip="192.0.2.0"))
    late = at("2026-11-21 01:00")
    tomorrow = _landed_file(
        tmp_path,
        "2",
        landed("m1", event, received=late, client_ip="198.51.100.0"),  # sent again: a duplicate
        landed("m2", event, received=late),
    )
    expected = ([("m1", "192.0.2.0"), ("m2", None)], [("m1", "duplicate")])
    for older in (frozenset({D20}), frozenset({D21})):
        assert _clean_landed(tmp_path, {D20: [today], D21: [tomorrow]}, older) == expected, older
