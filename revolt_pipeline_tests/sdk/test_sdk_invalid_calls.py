"""Mistakes in the application's calls are warned about and counted, and never raise into it."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from revolt_pipeline.sdk import MAX_MESSAGE_BYTES, Client
from revolt_pipeline_tests.sdk.conftest import WAIT, ClientFactory
from revolt_pipeline_tests.sdk.fake_collector import FakeCollector

INVALID_CALLS: dict[str, Callable[[Client], bool]] = {
    "no user_id nor anonymous_id": lambda c: c.track(event="Clicked"),
    "track without event": lambda c: c.track(user_id="u1"),
    "blank event": lambda c: c.track(user_id="u1", event="  "),
    "event not a string": lambda c: c.track(user_id="u1", event=42),  # type: ignore[arg-type]
    "properties not a dict": lambda c: c.track(user_id="u1", event="E", properties=["a"]),  # type: ignore[arg-type]
    "context not a dict": lambda c: c.track(user_id="u1", event="E", context="ctx"),  # type: ignore[arg-type]
    "integrations not a dict": lambda c: c.track(user_id="u1", event="E", integrations=1),  # type: ignore[arg-type]
    "timestamp as text": lambda c: c.track(user_id="u1", event="E", timestamp="2026-11-26"),  # type: ignore[arg-type]
    "boolean user_id": lambda c: c.track(user_id=True, event="E"),
    "empty user_id": lambda c: c.track(user_id="", event="E"),
    "user_id too long": lambda c: c.track(user_id="u" * 256, event="E"),
    "message_id not a string": lambda c: c.track(user_id="u1", event="E", message_id=7),  # type: ignore[arg-type]
    "unserializable value": lambda c: c.track(user_id="u1", event="E", properties={"x": object()}),
    "lone surrogate": lambda c: c.track(user_id="u1", event="E", properties={"x": "\ud800"}),
    "message over 32 KB": lambda c: c.track(user_id="u1", event="E", properties={"x": "y" * MAX_MESSAGE_BYTES}),
    "traits not a dict": lambda c: c.identify(user_id="u1", traits="pro"),  # type: ignore[arg-type]
    "page name not a string": lambda c: c.page(user_id="u1", name=3),  # type: ignore[arg-type]
    "group without group_id": lambda c: c.group(user_id="u1"),
    "alias without previous_id": lambda c: c.alias(user_id="u1"),
    "alias without user_id": lambda c: c.alias(previous_id="a1"),
    "circular properties": lambda c: c.track(user_id="u1", event="E", properties=_circular()),
}


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize("call", INVALID_CALLS.values(), ids=INVALID_CALLS.keys())
def test_an_invalid_call_returns_false_and_never_raises(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, call: Callable[[Client], bool]
) -> None:
    client = make_client(send_in_background=False)
    with caplog.at_level(logging.WARNING, logger="revolt.sdk"):
        assert call(client) is False

    stats = client.stats
    assert (stats["dropped_invalid"], stats["dropped_error"], stats["queued"]) == (1, 0, 0)
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING and "invalid" in warning.getMessage()


def test_a_call_with_a_wrong_signature_is_logged_with_its_traceback_not_raised(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(send_in_background=False)
    with caplog.at_level(logging.ERROR, logger="revolt.sdk"):
        assert client.track(user_id="u1", event="E", propertys={}) is False  # type: ignore[call-arg]

    assert client.stats["dropped_error"] == 1
    (record,) = caplog.records
    assert isinstance(record.exc_info[1], TypeError)  # type: ignore[index]


def test_a_message_just_under_the_size_limit_is_accepted(make_client: ClientFactory) -> None:
    client = make_client(send_in_background=False)
    assert client.track(user_id="u1", event="E", properties={"x": "y" * (MAX_MESSAGE_BYTES - 1_000)})
    assert client.stats["dropped_invalid"] == 0


def test_an_internal_error_is_logged_with_its_traceback_and_swallowed(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("the clock is broken")

    client = make_client(send_in_background=False, clock=broken_clock)
    with caplog.at_level(logging.ERROR, logger="revolt.sdk"):
        assert client.track(user_id="u1", event="E") is False

    assert client.stats["dropped_error"] == 1
    (record,) = caplog.records
    assert record.exc_info is not None and "the clock is broken" in str(record.exc_info[1])


def test_valid_calls_still_go_through_after_invalid_ones(collector: FakeCollector, make_client: ClientFactory) -> None:
    client = make_client(host=collector.url)
    for call in INVALID_CALLS.values():
        call(client)
    assert client.track(user_id="u1", event="Fine")

    assert client.flush(WAIT)
    assert [message["event"] for message in collector.delivered_messages()] == ["Fine"]


@pytest.mark.parametrize(
    "options",
    [
        {"write_key": ""},
        {"host": "127.0.0.1:8088"},
        {"host": "ftp://collector"},
        {"on_full": "wait"},
        {"max_batch_size": 0},
        {"max_batch_bytes": 600_000},
        {"max_queue_size": 0},
        {"timeout": 0},
        {"flush_interval": -1},
        {"max_retry_duration": -1},
        {"context": ["not", "a", "dict"]},
    ],
    ids=lambda options: next(iter(options)),
)
def test_a_configuration_that_cannot_work_is_refused_at_construction(options: dict[str, Any]) -> None:
    arguments = {"write_key": "key", "host": "http://127.0.0.1:9", "send_in_background": False, **options}
    with pytest.raises(ValueError):
        Client(arguments.pop("write_key"), arguments.pop("host"), **arguments)
