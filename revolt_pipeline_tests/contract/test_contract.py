"""The contract: the collector's validation, the published JSON Schema, and the landed record agree."""

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import jsonschema
import orjson
import pytest

from revolt_pipeline.contract import Receipt, Rejection, format_timestamp, landed_record, parse_timestamp
from revolt_pipeline.contract import validate_message as validate
from revolt_pipeline.contract.envelope import epoch_ms

SCHEMA = json.loads(resources.files("revolt_pipeline.contract").joinpath("segment-message.schema.json").read_text())
schema_validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

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
    ([1, 2], "not_an_object"),
    ("text", "not_an_object"),
]


@pytest.mark.parametrize("message", VALID)
def test_valid_messages_pass_both_the_collector_and_the_schema(message: dict[str, Any]) -> None:
    assert not isinstance(validate(orjson.dumps(message)), Rejection)
    assert list(schema_validator.iter_errors(message)) == []


@pytest.mark.parametrize(("message", "reason"), INVALID)
def test_invalid_messages_fail_both_with_the_documented_reason(message: Any, reason: str) -> None:
    result = validate(orjson.dumps(message))
    assert isinstance(result, Rejection)
    assert result.reason == reason, result.detail
    assert list(schema_validator.iter_errors(message)) != []


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
