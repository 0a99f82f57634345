"""What the SDK does with each kind of answer: retry transient failures, never retry permanent ones."""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from revolt_pipeline.sdk import CollectorRejectedEvents, PermanentRejection
from revolt_pipeline.sdk.consumer import BACKOFF_BASE, full_jitter_backoff
from revolt_pipeline.sdk.request import MAX_RETRY_AFTER, parse_retry_after
from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory, wait_until
from revolt_pipeline_tests.sdk.fake_collector import Answer, FakeCollector


def _numbers(collector: FakeCollector) -> list[int]:
    return [message["properties"]["n"] for message in collector.delivered_messages()]


def test_server_errors_are_retried_until_the_batch_is_delivered(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    collector.script(Answer(500), Answer(503))
    client = make_client(host=collector.url)
    for number in range(5):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert client.flush(WAIT)
    assert [request.status for request in collector.requests] == [500, 503, 200]
    assert _numbers(collector) == [0, 1, 2, 3, 4]
    assert client.stats["retries"] == 2
    assert client.stats["sent"] == 5
    assert client.stats["failed_batches"] == 0


def test_a_rate_limited_batch_waits_for_retry_after(collector: FakeCollector, make_client: ClientFactory) -> None:
    collector.script(Answer(429, headers={"Retry-After": "1"}))
    client = make_client(host=collector.url, max_backoff=0.01)
    client.track(user_id="u1", event="Clicked", properties={"n": 0})

    assert client.flush(WAIT)
    refused, accepted = collector.requests
    assert (refused.status, accepted.status) == (429, 200)
    # A lower bound only: the backoff alone (max_backoff=0.01) would have retried at once.
    assert accepted.received_at - refused.received_at >= 0.9


def test_a_batch_the_collector_timed_out_is_sent_again(collector: FakeCollector, make_client: ClientFactory) -> None:
    # 408: the collector stopped waiting for a slow body and kept nothing of it.
    collector.script(Answer(408))
    client = make_client(host=collector.url, max_backoff=0.01)
    client.track(user_id="u1", event="Clicked", properties={"n": 0})

    assert client.flush(WAIT)
    assert [request.status for request in collector.requests] == [408, 200]
    assert client.stats["failed_batches"] == 0


def test_every_event_arrives_when_the_collector_comes_back(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url, max_batch_size=10)
    client.track(user_id="u1", event="Before", properties={"n": 0})
    assert client.flush(WAIT)  # a kept-alive connection now exists, and is about to go stale

    collector.stop()
    for number in range(1, 51):
        assert client.track(user_id="u1", event="While down", properties={"n": number})
    assert wait_until(lambda: client.stats["retries"] >= 3), "connections should be refused and retried"
    collector.start()

    assert client.flush(WAIT)
    assert sorted(set(_numbers(collector))) == list(range(51))
    assert client.stats["sent"] >= 51
    assert client.stats["failed_batches"] == 0


def test_a_connection_closed_without_answer_is_retried(collector: FakeCollector, make_client: ClientFactory) -> None:
    collector.script(Answer(drop=True), Answer(drop=True))
    client = make_client(host=collector.url)
    client.track(user_id="u1", event="Clicked", properties={"n": 0})

    assert client.flush(WAIT)
    # The events of a dropped request may or may not have been processed: resending is the safe side.
    assert len(collector.requests) == 3
    assert _numbers(collector) == [0]
    assert client.stats["retries"] == 2


@pytest.mark.parametrize(
    "answer",
    [
        Answer(400, {"success": False, "code": "invalid_batch", "message": "bad"}),
        Answer(401, {"success": False, "code": "unknown_write_key", "message": "who?"}),
        Answer(413, {"success": False, "code": "batch_too_large", "message": "too big"}),
        Answer(404),
        Answer(307, headers={"Location": "http://elsewhere/v1/batch"}),
    ],
    ids=lambda answer: str(answer.status),
)
def test_a_permanently_refused_batch_is_dropped_counted_and_not_retried(
    collector: FakeCollector, make_client: ClientFactory, caplog: pytest.LogCaptureFixture, answer: Answer
) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    collector.script(answer)
    client = make_client(host=collector.url, on_error=lambda error, messages: errors.append((error, messages)))
    for number in range(3):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    with caplog.at_level(logging.ERROR, logger="revolt.sdk"):
        assert client.flush(WAIT), "a refused batch is settled: flush() must not wait for it"

    assert len(collector.requests) == 1
    assert client.stats["failed_batches"] == 1
    assert client.stats["failed_events"] == 3
    assert client.stats["retries"] == 0
    assert client.stats["pending"] == 0
    assert len([record for record in caplog.records if record.levelno >= logging.ERROR]) == 1
    ((error, messages),) = errors
    assert isinstance(error, PermanentRejection) and error.status == answer.status
    assert [message["properties"]["n"] for message in messages] == [0, 1, 2]

    client.track(user_id="u1", event="Later", properties={"n": 3})
    assert client.flush(WAIT)
    assert _numbers(collector) == [3], "the next batch is sent normally"


def test_messages_rejected_inside_a_200_answer_are_counted_not_resent(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    collector.script(Answer(200, rejected_indexes=(1, 3)))
    client = make_client(host=collector.url, on_error=lambda error, messages: errors.append((error, messages)))
    for number in range(5):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert client.flush(WAIT)
    assert len(collector.requests) == 1
    assert client.stats["sent"] == 3
    assert client.stats["rejected_by_collector"] == 2
    assert client.stats["failed_batches"] == 0
    ((error, messages),) = errors
    assert isinstance(error, CollectorRejectedEvents)
    assert [message["properties"]["n"] for message in messages] == [1, 3]


def test_a_batch_is_given_up_after_max_retry_duration(collector: FakeCollector, make_client: ClientFactory) -> None:
    errors: list[Exception] = []
    collector.default_answer = Answer(500)
    client = make_client(
        host=collector.url,
        max_retry_duration=0.3,
        max_backoff=0.05,
        on_error=lambda error, messages: errors.append(error),
    )
    client.track(user_id="u1", event="Clicked")

    assert client.flush(WAIT)
    assert len(collector.requests) >= 2
    assert client.stats["failed_batches"] == 1
    assert client.stats["failed_events"] == 1
    assert client.stats["pending"] == 0
    assert len(errors) == 1


def test_an_on_error_callback_that_raises_does_not_stop_delivery(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    def broken_callback(error: Exception, messages: list[dict[str, Any]]) -> None:
        raise RuntimeError("the application's callback is broken")

    collector.script(Answer(400))
    client = make_client(host=collector.url, on_error=broken_callback)
    client.track(user_id="u1", event="Refused")
    assert client.flush(WAIT)
    client.track(user_id="u1", event="Delivered")
    assert client.flush(WAIT)
    assert [message["event"] for message in collector.delivered_messages()] == ["Delivered"]


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 10, 100, 10_000])
def test_backoff_is_full_jitter_under_a_doubling_ceiling(failures: int) -> None:
    ceiling = min(30.0, BACKOFF_BASE * 2 ** min(failures - 1, 60))
    delays = [full_jitter_backoff(failures, cap=30.0) for _ in range(200)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    assert max(delays) > ceiling / 4, "delays should spread over the whole range"


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    in_ten_seconds = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after("3", now=now.timestamp()) == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(in_ten_seconds, now=now.timestamp()) == pytest.approx(10.0)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=10), usegmt=True), now=now.timestamp()) == 0.0
    assert parse_retry_after("86400") == MAX_RETRY_AFTER
    assert parse_retry_after("-5") == 0.0
    for unusable in (None, "", "soon", "nan"):
        assert parse_retry_after(unusable) is None
