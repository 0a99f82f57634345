"""The contract: the collector's validation, the published JSON Schema, and the landed record agree."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revolt_pipeline.collector.ingest import Limits, process_request
from revolt_pipeline.contract import Receipt, Rejection, format_timestamp, landed_record, parse_timestamp
from revolt_pipeline.contract import validate_message as validate
from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.sources import Source
from revolt_pipeline_tests.contract.schemas import contract_validator

schema_validator = contract_validator("segment-message.schema.json")
batch_validator = contract_validator("batch.schema.json")

T = "2026-11-20T10:00:00.000Z"
VALID: list[dict[str, Any]] = [
    {"type": "track", "event": "Timer Started", "userId": "u1"},
    {"type": "track", "event": "Timer Started", "anonymousId": "a1", "properties": {"x": [1, {"y": None}]}},
    {
        "type": "track",
        "event": "e",
        "userId": 42,
        "originalTimestamp": T,
        "sentAt": "2026-11-20T12:00:00+02:00",
    },
    {"type": "identify", "userId": "u1", "traits": {"plan": "team"}, "unknownField": {"kept": True}},
    {"type": "page", "anonymousId": "a1", "name": "Pricing", "category": None},
    {"type": "screen", "userId": "u1", "name": "Timesheet", "context": {"os": {"name": "iOS"}}},
    {"type": "group", "userId": "u1", "groupId": 7, "traits": {"name": "Acme"}},
    {"type": "alias", "previousId": "a1", "userId": "u1"},
    {
        "type": "track",
        "event": "e",
        "userId": "u",
        "messageId": "m" * 255,
        "timestamp": "2026-11-20T10:00:00.5-05:00",
    },
    {"type": "track", "event": "e", "userId": "u", "anonymousId": None, "context": None},
    {"type": "identify", "userId": "u", "messageId": None, "sentAt": None},
    {"type": "identify", "userId": "é" * 255, "messageId": "😀" * 255},  # lengths in characters
    {"type": "identify", "userId": 123456789012345678901234567890, "groupId": 1.5},
    # What the collector's parser reads besides RFC 3339 proper: a space for T, an offset without colon.
    {"type": "identify", "userId": "u", "timestamp": "2026-11-20 10:00:00.123456789+0100"},
    {
        "type": "identify",
        "userId": "u",
        "originalTimestamp": "2024-02-29t23:59:59-00:00",
        "sentAt": "2000-02-29T00:00:00z",
    },
]
INVALID: list[tuple[Any, str]] = [
    ({"type": "track", "userId": "u1"}, "missing_field"),
    ({"type": "track", "event": "", "userId": "u1"}, "invalid_field"),
    ({"type": "track", "event": "e"}, "missing_identity"),
    ({"type": "track", "event": "e", "userId": None, "anonymousId": None}, "missing_identity"),
    ({"type": "track", "event": "e", "userId": ""}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u" * 256}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": 1.5}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": False}, "invalid_field"),
    ({"type": "track", "event": ["e"], "userId": "u"}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "messageId": ""}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "messageId": 5}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "properties": "x"}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "traits": [1]}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "context": 3}, "invalid_field"),
    ({"type": "track", "event": "e", "userId": "u", "timestamp": "2026-11-20T10:00:00"}, "invalid_timestamp"),
    ({"type": "track", "event": "e", "userId": "u", "sentAt": "2026-13-20T10:00:00Z"}, "invalid_timestamp"),
    ({"type": "track", "event": "e", "userId": "u", "originalTimestamp": 1700000000}, "invalid_timestamp"),
    ({"type": "purchase", "userId": "u"}, "unknown_type"),
    ({"event": "e", "userId": "u"}, "missing_field"),
    ({"type": "group", "userId": "u"}, "missing_field"),
    ({"type": "alias", "previousId": "a"}, "missing_field"),
    ({"type": "alias", "userId": "u"}, "missing_field"),
    ({"type": "page", "userId": "u", "name": 3}, "invalid_field"),
    ({"type": "identify", "userId": 1.0}, "invalid_field"),  # a whole number, not written as an integer
    ({"type": "identify", "userId": "é" * 256}, "invalid_field"),
    ({"type": "group", "userId": "u", "groupId": None}, "invalid_field"),
    ({"type": "track", "event": None, "userId": "u"}, "invalid_field"),
    ({"type": "identify", "userId": "u", "timestamp": "2023-02-29T10:00:00Z"}, "invalid_timestamp"),
    ({"type": "identify", "userId": "u", "timestamp": "1900-02-29T10:00:00Z"}, "invalid_timestamp"),
    ({"type": "identify", "userId": "u", "timestamp": "2026-11-20T23:59:60Z"}, "invalid_timestamp"),
    ({"type": "identify", "userId": "u", "timestamp": "2026-11-20T10:00:00+01"}, "invalid_timestamp"),
    ({"type": "identify", "userId": "u", "timestamp": "2026-11-20T10:00:00+24:00"}, "invalid_timestamp"),
    ({"type": "identify", "userId": "u", "timestamp": "0000-01-01T00:00:00Z"}, "invalid_timestamp"),
    ([1, 2], "not_an_object"),
    ("text", "not_an_object"),
]


@pytest.mark.parametrize("message", VALID)
def test_valid_messages_pass_both_the_collector_and_the_schema(message: dict[str, Any]) -> None:
    assert not isinstance(validate(json.dumps(message).encode()), Rejection)
    assert list(schema_validator.iter_errors(message)) == []


@pytest.mark.parametrize(("message", "reason"), INVALID)
def test_invalid_messages_fail_both_with_the_documented_reason(message: Any, reason: str) -> None:
    result = validate(json.dumps(message).encode())
    assert isinstance(result, Rejection)
    assert result.reason == reason, result.detail
    assert list(schema_validator.iter_errors(message)) != []


@st.composite
def timestamp_like(draw: st.DrawFn) -> str:
    """Strings shaped like timestamps, each part on and just past its limits."""
    year = draw(st.sampled_from([0, 1, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 9998]) | st.integers(0, 9998))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    fraction = draw(st.sampled_from(["", "."]) | st.from_regex(r"\.[0-9]{1,12}", fullmatch=True))
    sign, offset_hour, offset_minute = draw(st.sampled_from("+-")), draw(st.integers(0, 25)), draw(st.integers(0, 61))
    offset = draw(
        st.sampled_from(["", "Z", "z", "ZZ", f"{sign}{offset_hour:02d}", f"{sign}{offset_hour}:{offset_minute:02d}"])
        | st.sampled_from(
            [f"{sign}{offset_hour:02d}:{offset_minute:02d}", f"{sign}{offset_hour:02d}{offset_minute:02d}"]
        )
    )
    separator = draw(st.sampled_from(["T", "t", " ", "_", "  "]))
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


@settings(max_examples=400, deadline=None)
@given(timestamp_like())
def test_the_schema_takes_exactly_the_timestamps_the_collector_takes(text: str) -> None:
    """Up to 9999-12-31 less a microsecond: a time there that rounds into the year 10000 is the schema's one gap.

    `parse_timestamp`, which reads every other time (the admin clock, watermarks), takes the same.
    """
    message = {"type": "identify", "userId": "u", "timestamp": text}
    taken = not isinstance(validate(orjson.dumps(message)), Rejection)
    assert schema_validator.is_valid(message) == taken, f"{text!r}: the collector {'takes' if taken else 'refuses'} it"
    assert (parse_timestamp(text) is not None) == taken, f"{text!r}: parse_timestamp disagrees"


KEY = "wk_contract_test"
SOURCE = Source(name="web", write_key=KEY, platform="web")
MESSAGE = {"type": "identify", "userId": "u"}


@pytest.mark.parametrize(
    "batch",
    [
        {"batch": [MESSAGE], "sentAt": "2026-11-20T10:00:00.5Z", "context": {"a": 1}, "extra": [1]},
        {"batch": [MESSAGE], "sentAt": "2026-11-20 11:00:00+0100"},
        {"batch": [MESSAGE], "sentAt": None, "context": None, "writeKey": None},
        {"batch": [MESSAGE], "writeKey": KEY},
        {"batch": [MESSAGE], "sentAt": "2026-11-20T10:00:00"},
        {"batch": [MESSAGE], "sentAt": "2026-02-30T10:00:00Z"},
        {"batch": [MESSAGE], "sentAt": 1795168800000},
        {"batch": [MESSAGE], "context": []},
        {"batch": [MESSAGE], "context": "web"},
        {"batch": [MESSAGE], "writeKey": 7},
        {"batch": {"0": MESSAGE}},
        {"batch": None},
        {"messages": [MESSAGE]},
        [MESSAGE],
    ],
)
def test_the_batch_schema_takes_exactly_the_envelopes_the_collector_takes(batch: Any) -> None:
    outcome = process_request(
        orjson.dumps(batch),
        endpoint="batch",
        content_encoding=None,
        authorization="Basic " + base64.b64encode(f"{KEY}:".encode()).decode(),
        lookup_source={KEY: SOURCE}.get,
        limits=Limits(),
        received_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        collector_id="c1",
    )
    assert batch_validator.is_valid(batch) == (outcome.status == 200), outcome.body


def receipt(received_at: datetime, sent_at: datetime | None = None) -> Receipt:
    sent_at_ms = None if sent_at is None else epoch_ms(sent_at)
    return Receipt(epoch_ms(received_at), sent_at_ms, None, "web", "web", "c1")


def land(message: dict[str, Any], rec: Receipt) -> dict[str, Any]:
    raw = orjson.dumps(message)
    parsed = validate(raw)
    assert not isinstance(parsed, Rejection)
    return orjson.loads(landed_record(parsed, raw, rec, rec.shared_fields()))


def ms(text: str) -> int:
    moment = parse_timestamp(text)
    assert moment is not None
    return epoch_ms(moment)


def test_clock_skew_is_corrected_from_the_device_clock_difference() -> None:
    # The device clock is 3 h 7 s fast; the event happened 90 s before sending; the network took 0.25 s.
    true_event = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    skew = timedelta(hours=3, seconds=7)
    sent_true = true_event + timedelta(seconds=90)
    received = sent_true + timedelta(milliseconds=250)
    message = {
        "type": "track",
        "event": "e",
        "userId": "u",
        "originalTimestamp": format_timestamp(true_event + skew),
        "sentAt": format_timestamp(sent_true + skew),
    }
    record = land(message, receipt(received))
    assert record["timestamp"] == ms(format_timestamp(true_event + timedelta(milliseconds=250)))
    assert record["originalTimestamp"] == ms(message["originalTimestamp"])
    assert record["receivedAt"] == ms(format_timestamp(received))
    assert record["clockSkewMs"] == (skew - timedelta(milliseconds=250)) // timedelta(milliseconds=1)
    assert record["message"] == message  # the original, untouched


def test_batch_sent_at_applies_when_the_message_has_none() -> None:
    received = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    message = {"type": "track", "event": "e", "userId": "u", "timestamp": "2026-11-20T09:00:00.000Z"}
    record = land(message, receipt(received, sent_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC)))
    assert record["timestamp"] == ms("2026-11-20T11:30:00.000Z")
    assert record["originalTimestamp"] == ms("2026-11-20T09:00:00.000Z")


def test_without_sent_at_the_device_time_is_kept_and_without_any_time_the_receive_time() -> None:
    received = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with_time = land({"type": "track", "event": "e", "userId": "u", "originalTimestamp": T}, receipt(received))
    assert with_time["timestamp"] == ms(T)
    assert with_time["clockSkewMs"] is None
    without = land({"type": "identify", "userId": "u"}, receipt(received))
    assert without["timestamp"] == without["receivedAt"] == ms("2026-11-20T12:00:00.000Z")
    assert without["originalTimestamp"] is None


def test_a_missing_message_id_is_generated_and_flagged() -> None:
    record = land({"type": "identify", "userId": "u"}, receipt(datetime.now(UTC)))
    assert record["messageIdGenerated"] is True
    assert len(record["messageId"]) == 36
    kept = land({"type": "identify", "userId": "u", "messageId": "abc"}, receipt(datetime.now(UTC)))
    assert (kept["messageId"], kept["messageIdGenerated"]) == ("abc", False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000Z"),
        ("2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.123Z"),
        ("2026-11-20T12:00:00.5+02:00", "2026-11-20T10:00:00.500Z"),
        ("2026-11-20T10:00:00", None),
        ("2026-11-20", None),
        ("20261120T100000Z", None),
        ("yesterday at noon", None),
        ("2026-11-20 11:00:00+0100", "2026-11-20T10:00:00.000Z"),
        # Python's ISO parser takes these; a message's timestamps do not, and no other time is read otherwise.
        ("2026-11-20T11:00:00+01", None),
        ("2026-11-20T10:00:00.Z", None),
        ("2026-11-20T10:00:00 Z", None),
        ("2026-11-20T11:00:00+01:00:00", None),
    ],
)
def test_timestamps_round_trip_in_one_form(text: str, expected: str | None) -> None:
    parsed = parse_timestamp(text)
    assert (None if parsed is None else format_timestamp(parsed)) == expected


def test_the_landed_line_ends_with_the_message_and_says_how_long_it_is() -> None:
    raw = b'{"type":"track","event":"\xc3\xa9","userId":"u","properties":{"n":1.10,"s":",\\"message\\":1"}}'
    parsed = validate(raw)
    assert not isinstance(parsed, Rejection)
    context = b'{"a":{"message":{"x":1}},"b":",\\"message\\":"}'
    rec = Receipt(epoch_ms(datetime(2026, 11, 20, tzinfo=UTC)), None, context, "web", "web", "c1")
    line = landed_record(parsed, raw, rec, rec.shared_fields())
    record = orjson.loads(line)
    assert record["messageBytes"] == len(raw)
    assert line[-1 - record["messageBytes"] : -1] == raw
    assert line.endswith(b',"message":' + raw + b"}")
