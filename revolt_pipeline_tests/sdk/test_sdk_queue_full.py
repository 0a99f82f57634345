"""A full queue: drop the new event at once, or block the caller a while first; count and warn either way."""

import logging
import threading
import time

import pytest

from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory
from revolt_pipeline_tests.sdk.fake_collector import FakeCollector


def test_a_full_queue_drops_new_events_and_warns_once(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(send_in_background=False, max_queue_size=5)
    accepted = [client.track(user_id="u1", event="Clicked", properties={"n": n}) for n in range(5)]

    with caplog.at_level(logging.WARNING, logger="revolt.sdk"):
        refused = [client.track(user_id="u1", event="Clicked", properties={"n": n}) for n in range(5, 25)]

    assert accepted == [True] * 5
    assert refused == [False] * 20
    assert client.stats["dropped_queue_full"] == 20
    assert client.stats["queued"] == 5
    assert len([record for record in caplog.records if "queue is full" in record.getMessage()]) == 1


def test_the_block_policy_waits_block_timeout_then_drops(make_client: ClientFactory) -> None:
    client = make_client(send_in_background=False, max_queue_size=2, on_full="block", block_timeout=0.2)
    assert client.track(user_id="u1", event="A")
    assert client.track(user_id="u1", event="B")

    started = time.monotonic()
    assert not client.track(user_id="u1", event="C")
    assert time.monotonic() - started >= 0.19  # it did wait (a lower bound is safe on a slow machine)
    assert client.stats["dropped_queue_full"] == 1


def test_a_blocked_call_goes_through_once_a_flush_frees_room(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(
        host=collector.url, send_in_background=False, max_queue_size=2, on_full="block", block_timeout=WAIT
    )
    client.track(user_id="u1", event="A")
    client.track(user_id="u1", event="B")
    flusher = threading.Timer(0.2, client.flush, kwargs={"timeout": WAIT})
    flusher.start()
    try:
        assert client.track(user_id="u1", event="C"), "the flush in another thread made room"
    finally:
        flusher.join()

    assert client.flush(WAIT)
    assert [message["event"] for message in collector.delivered_messages()] == ["A", "B", "C"]
    assert client.stats["dropped_queue_full"] == 0
