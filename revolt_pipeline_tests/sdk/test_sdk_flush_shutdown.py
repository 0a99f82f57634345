"""flush() and shutdown() keep their deadlines, and leaving the process flushes what it can."""

import logging
import threading
import time

import pytest

from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory, run_python, wait_until
from revolt_pipeline_tests.sdk.fake_collector import Answer, FakeCollector


def test_flush_returns_false_when_its_timeout_passes(unused_url: str, make_client: ClientFactory) -> None:
    client = make_client(host=unused_url)
    client.track(user_id="u1", event="Clicked")

    assert client.flush(timeout=0.3) is False
    assert client.stats["pending"] == 1, "an undelivered event stays queued for later"


def test_flush_in_the_callers_thread_keeps_its_deadline_and_resumes_later(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    collector.stop()
    client = make_client(host=collector.url, send_in_background=False)
    for number in range(3):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert client.flush(timeout=0.3) is False
    assert client.stats["pending"] == 3

    collector.start()
    assert client.flush(WAIT)
    assert [message["properties"]["n"] for message in collector.delivered_messages()] == [0, 1, 2]


def test_flush_waits_only_for_events_tracked_before_it(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url, max_batch_size=10)
    stop = threading.Event()

    def keep_tracking() -> None:
        while not stop.is_set():
            client.track(user_id="u2", event="Background")
            time.sleep(0.001)

    tracker = threading.Thread(target=keep_tracking)
    tracker.start()
    try:
        for number in range(30):
            client.track(user_id="u1", event="Mine", properties={"n": number})
        assert client.flush(WAIT), "a steady stream of later events must not starve flush()"
    finally:
        stop.set()
        tracker.join()
    mine = [m["properties"]["n"] for m in collector.delivered_messages() if m["event"] == "Mine"]
    assert mine == list(range(30))


def test_shutdown_interrupts_a_long_retry_wait(
    collector: FakeCollector, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    collector.default_answer = Answer(429, headers={"Retry-After": "300"})
    client = make_client(host=collector.url)
    for _ in range(4):
        client.track(user_id="u1", event="Clicked")
    assert collector.wait_for_requests(1, WAIT)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="revolt.sdk"):
        client.shutdown(timeout=0.3)
    # Far below the 300 s Retry-After; the margin is for a loaded machine.
    assert time.monotonic() - started < 10

    assert client.stats["lost_at_shutdown"] == 4
    assert any("4 events were not delivered and are lost" in record.getMessage() for record in caplog.records)


def test_shutdown_is_idempotent_and_later_calls_are_refused(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url)
    client.track(user_id="u1", event="Before")
    client.shutdown()
    client.shutdown()

    assert client.track(user_id="u1", event="After") is False
    assert client.stats["dropped_after_shutdown"] == 1
    assert [message["event"] for message in collector.delivered_messages()] == ["Before"]


def test_the_consumer_thread_ends_at_shutdown(collector: FakeCollector, make_client: ClientFactory) -> None:
    def consumers() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name == "revolt-sdk-consumer"]

    before = len(consumers())
    client = make_client(host=collector.url)
    assert len(consumers()) == before + 1
    client.shutdown(timeout=WAIT)
    assert wait_until(lambda: len(consumers()) == before)


@pytest.mark.parametrize("in_background", [True, False], ids=["consumer thread", "caller's thread"])
def test_leaving_the_process_flushes_what_was_tracked(collector: FakeCollector, in_background: bool) -> None:
    script = """
import sys
from revolt_pipeline.sdk import Client
client = Client("key", sys.argv[1], flush_interval=60, send_in_background=sys.argv[2] == "True")
for number in range(25):
    client.track(user_id="u1", event="Exit", properties={"n": number})
# No flush(), no shutdown(): the atexit hook has to send them.
"""
    result = run_python(script, collector.url, str(in_background))

    assert result.returncode == 0, result.stderr
    assert sorted(m["properties"]["n"] for m in collector.delivered_messages()) == list(range(25))


def test_leaving_with_an_unreachable_collector_reports_the_loss(unused_url: str) -> None:
    script = """
import sys
from revolt_pipeline.sdk import Client
client = Client("key", sys.argv[1], shutdown_timeout=0.3, max_backoff=0.05)
for number in range(7):
    client.track(user_id="u1", event="Lost")
"""
    result = run_python(script, unused_url)

    assert result.returncode == 0, result.stderr
    assert "7 events were not delivered and are lost at exit" in result.stderr
