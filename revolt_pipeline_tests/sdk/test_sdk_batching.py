"""How events are grouped into batches, and what a batch and its messages look like on the wire."""

import base64
import re
import threading
import time
import uuid
from datetime import UTC, date, datetime

import pytest

from revolt_pipeline import __version__
from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory, wait_until
from revolt_pipeline_tests.sdk.fake_collector import FakeCollector

RFC3339_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_a_full_batch_goes_out_without_waiting_for_the_interval(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url, max_batch_size=10, flush_interval=600)
    for number in range(20):
        assert client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert collector.wait_for_messages(20, WAIT), "two full batches should leave without a flush"
    assert [len(request.messages) for request in collector.requests] == [10, 10]


def test_a_partial_batch_goes_out_after_flush_interval(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url, max_batch_size=100, flush_interval=0.2)
    for number in range(3):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert wait_until(lambda: client.stats["sent"] == 3), "no flush() was called: the interval sent them"
    assert len(collector.delivered_messages()) == 3


def test_batches_stay_under_max_batch_bytes(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url, max_batch_bytes=5_000, max_batch_size=1_000, send_in_background=False)
    for number in range(40):
        client.track(user_id="u1", event="Viewed", properties={"n": number, "padding": "x" * 400})

    assert client.flush(WAIT)
    assert len(collector.requests) > 1
    for request in collector.requests:
        serialized = request.body.decode().partition('{"batch":[')[2].rpartition('],"sentAt"')[0]
        assert len(serialized.encode()) <= 5_000
    assert [m["properties"]["n"] for m in collector.delivered_messages()] == list(range(40))


def test_an_event_larger_than_max_batch_bytes_still_goes_out_alone(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url, max_batch_bytes=100, gzip=False, send_in_background=False)
    client.track(user_id="u1", event="Big", properties={"padding": "x" * 500})
    client.track(user_id="u1", event="Big", properties={"padding": "x" * 500})

    assert client.flush(WAIT)
    assert [len(request.messages) for request in collector.requests] == [1, 1]


@pytest.mark.parametrize("use_gzip", [True, False])
def test_gzip_is_announced_with_content_encoding(
    collector: FakeCollector, make_client: ClientFactory, use_gzip: bool
) -> None:
    client = make_client(host=collector.url, gzip=use_gzip)
    client.track(user_id="u1", event="Clicked", properties={"text": "ünïcode ✓"})

    assert client.flush(WAIT)
    (request,) = collector.requests
    assert request.headers.get("Content-Encoding") == ("gzip" if use_gzip else None)
    assert request.raw_body.startswith(b"\x1f\x8b") is use_gzip
    assert request.messages[0]["properties"] == {"text": "ünïcode ✓"}


def test_write_key_is_the_basic_auth_user(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client("secret-write-key", host=collector.url)
    client.track(user_id="u1", event="Clicked")

    assert client.flush(WAIT)
    request = collector.requests[0]
    assert request.path == "/v1/batch"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"secret-write-key:").decode()
    assert request.headers["Content-Type"] == "application/json"


def test_a_track_message_carries_ids_timestamps_and_automatic_context(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url)
    assert client.track(
        user_id="u1",
        event="Order Completed",
        properties={"total": 12.5},
        anonymous_id="anon-1",
        integrations={"All": True},
    )

    assert client.flush(WAIT)
    body = collector.requests[0].document
    assert RFC3339_MILLIS_Z.match(body["sentAt"])
    (message,) = body["batch"]
    assert message["type"] == "track"
    assert message["event"] == "Order Completed"
    assert message["properties"] == {"total": 12.5}
    assert (message["userId"], message["anonymousId"]) == ("u1", "anon-1")
    assert message["integrations"] == {"All": True}
    assert uuid.UUID(message["messageId"]).version == 4
    assert RFC3339_MILLIS_Z.match(message["originalTimestamp"])
    context = message["context"]
    assert context["library"] == {"name": "revolt-python", "version": __version__}
    assert set(context["os"]) == {"name", "version"}


def test_every_call_type_builds_its_segment_message(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url)
    assert client.identify(user_id="u1", traits={"plan": "pro"})
    assert client.page(anonymous_id="a1", category="Docs", name="Install", properties={"path": "/install"})
    assert client.screen(user_id="u1", name="Home")
    assert client.group(user_id="u1", group_id="acme", traits={"seats": 3})
    assert client.alias(previous_id="a1", user_id="u1")

    assert client.flush(WAIT)
    identify, page, screen, group, alias = collector.delivered_messages()
    assert (identify["type"], identify["traits"]) == ("identify", {"plan": "pro"})
    assert (page["type"], page["category"], page["name"], page["properties"]) == (
        "page",
        "Docs",
        "Install",
        {"path": "/install"},
    )
    assert "userId" not in page
    assert (screen["type"], screen["name"]) == ("screen", "Home")
    assert (group["type"], group["groupId"], group["traits"]) == ("group", "acme", {"seats": 3})
    assert (alias["type"], alias["previousId"], alias["userId"]) == ("alias", "a1", "u1")


def test_call_context_is_merged_over_the_client_and_automatic_context(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url, context={"app": {"name": "shop", "version": "1.0"}, "os": {"name": "iOS"}})
    client.track(user_id="u1", event="A", context={"app": {"version": "1.1"}, "ip": "10.0.0.1"})
    client.track(user_id="u1", event="B")

    assert client.flush(WAIT)
    first, second = (message["context"] for message in collector.delivered_messages())
    assert first["app"] == {"name": "shop", "version": "1.1"}
    assert first["ip"] == "10.0.0.1"
    assert first["os"]["name"] == "iOS" and "version" in first["os"]
    assert first["library"]["name"] == "revolt-python"
    assert second["app"] == {"name": "shop", "version": "1.0"}
    assert "ip" not in second


def test_integer_ids_become_strings_and_dates_in_properties_are_written(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    client = make_client(host=collector.url)
    when = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    client.track(user_id=42, event="Booked", properties={"at": when, "day": date(2026, 11, 26), "id": uuid.UUID(int=1)})

    assert client.flush(WAIT)
    (message,) = collector.delivered_messages()
    assert message["userId"] == "42"
    assert message["properties"] == {
        "at": "2026-11-26T12:00:00.123Z",
        "day": "2026-11-26",
        "id": "00000000-0000-0000-0000-000000000001",
    }


def test_without_a_background_thread_events_leave_only_on_flush(
    collector: FakeCollector, make_client: ClientFactory
) -> None:
    threads_before = threading.active_count()
    client = make_client(host=collector.url, send_in_background=False, max_batch_size=2)
    for number in range(5):
        client.track(user_id="u1", event="Clicked", properties={"n": number})

    assert threading.active_count() == threads_before
    time.sleep(0.3)  # were there a sender, full batches of 2 would have left by now
    assert collector.requests == []
    assert client.stats["pending"] == 5

    assert client.flush(WAIT)
    assert [m["properties"]["n"] for m in collector.delivered_messages()] == [0, 1, 2, 3, 4]
    assert client.stats["pending"] == 0


def test_events_arrive_in_the_order_they_were_tracked(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url, max_batch_size=7)
    for number in range(100):
        client.track(user_id="u1", event="Step", properties={"n": number})

    assert client.flush(WAIT)
    assert [m["properties"]["n"] for m in collector.delivered_messages()] == list(range(100))
