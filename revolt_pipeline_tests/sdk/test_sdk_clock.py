"""Timestamps: originalTimestamp and sentAt come from one clock, so the collector can correct its skew."""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from revolt_pipeline.clock import SimulatedClock
from revolt_pipeline.sdk.context import format_timestamp, random_message_id, system_now_text
from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory
from revolt_pipeline_tests.sdk.fake_collector import Answer, FakeCollector


def test_original_timestamp_and_sent_at_come_from_the_injected_clock(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    # A device whose clock is years behind: only the difference between its two times is trustworthy.
    device_clock = SimulatedClock(datetime(2020, 1, 1, 8, 0, 0, 250_000, tzinfo=UTC))
    client = make_client(host=collector.url, clock=device_clock.now, send_in_background=False)
    client.track(user_id="u1", event="Opened")
    device_clock.advance(timedelta(minutes=5))
    client.track(user_id="u1", event="Closed")
    device_clock.advance(timedelta(seconds=30))

    assert client.flush(WAIT)
    (request,) = collector.requests
    opened, closed = request.messages
    assert opened["originalTimestamp"] == "2020-01-01T08:00:00.250Z"
    assert closed["originalTimestamp"] == "2020-01-01T08:05:00.250Z"
    assert request.document["sentAt"] == "2020-01-01T08:05:30.250Z"


def test_a_retried_batch_gets_a_fresh_sent_at(collector: FakeCollector, make_client: ClientFactory) -> None:
    device_clock = SimulatedClock(datetime(2020, 1, 1, tzinfo=UTC))
    collector.on_request = lambda request: device_clock.advance(timedelta(seconds=1))
    collector.script(Answer(500))
    client = make_client(host=collector.url, clock=device_clock.now, send_in_background=False, max_backoff=0.01)
    client.track(user_id="u1", event="Opened")

    assert client.flush(WAIT)
    first, second = (request.document["sentAt"] for request in collector.requests)
    assert (first, second) == ("2020-01-01T00:00:00.000Z", "2020-01-01T00:00:01.000Z")
    assert collector.requests[1].messages[0]["originalTimestamp"] == "2020-01-01T00:00:00.000Z"


def test_an_explicit_timestamp_becomes_the_original_timestamp_in_utc(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url)
    client.track(user_id="u1", event="Naive", timestamp=datetime(2026, 11, 26, 12, 0, 0, 123_999))
    paris_winter = timezone(timedelta(hours=1))
    client.track(user_id="u1", event="Aware", timestamp=datetime(2026, 11, 26, 13, 0, tzinfo=paris_winter))

    assert client.flush(WAIT)
    naive, aware = collector.delivered_messages()
    assert naive["originalTimestamp"] == "2026-11-26T12:00:00.123Z", "a naive datetime is taken as UTC"
    assert aware["originalTimestamp"] == "2026-11-26T12:00:00.000Z"


def test_the_system_clock_fast_path_writes_the_same_format() -> None:
    before = format_timestamp(datetime.now(UTC))
    text = system_now_text()
    after = format_timestamp(datetime.now(UTC))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", text)
    assert before <= text <= after


def test_generated_message_ids_are_version_4_uuids() -> None:
    ids = {random_message_id() for _ in range(1_000)}
    assert len(ids) == 1_000
    for text in list(ids)[:50]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
