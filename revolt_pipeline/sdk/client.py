"""The application's handle on the SDK: validate a call, build the message, queue it; never block on the
network and never raise into the application."""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, ParamSpec

from revolt_pipeline.sdk.consumer import BatchDelivery, Consumer, Outcome, Stats
from revolt_pipeline.sdk.context import (
    LIBRARY_NAME,
    automatic_context,
    deep_merge,
    format_timestamp,
    library_version,
    random_message_id,
    system_now_text,
)
from revolt_pipeline.sdk.encoding import encode_json
from revolt_pipeline.sdk.queues import DiskQueue, EventQueue, MemoryQueue
from revolt_pipeline.sdk.request import BatchSender

logger = logging.getLogger("revolt.sdk")

MAX_MESSAGE_BYTES = 32 * 1024  # the collector quarantines anything larger
COLLECTOR_MAX_BATCH_BYTES = 500 * 1024  # the collector refuses a larger body with 413
# '{"batch":[' + '],"sentAt":"2026-11-26T12:00:00.123Z"}' is 48 bytes; the rest is slack.
BATCH_ENVELOPE_BYTES = 64
MAX_ID_LENGTH = 255
WARNING_INTERVAL = 10.0  # seconds between two warnings about the same recurring condition

P = ParamSpec("P")


class InvalidCall(ValueError):
    """A call the SDK drops: logged as a warning and counted, never raised to the application."""


def _clock_text(clock: Callable[[], datetime]) -> str:
    return format_timestamp(clock())


def _never_raises(method: Callable[Concatenate[Client, P], bool]) -> Callable[Concatenate[Client, P], bool]:
    """Turn an invalid call into a warning, any other error into a logged traceback; both return False."""

    @functools.wraps(method)
    def guarded(self: Client, *args: P.args, **kwargs: P.kwargs) -> bool:
        try:
            return method(self, *args, **kwargs)
        except InvalidCall as invalid:
            self._stats.add("dropped_invalid")
            logger.warning("revolt sdk dropped an invalid %s() call: %s", method.__name__, invalid)
        except Exception:
            self._stats.add("dropped_error")
            logger.exception("revolt sdk failed in %s(); the event is dropped", method.__name__)
        return False

    return guarded


def _identifier(name: str, value: Any) -> str | None:
    """An id as the collector wants it: a non-empty string of at most 255 characters (ints are converted)."""
    if value is None:
        return None
    if isinstance(value, str):
        if 0 < len(value) <= MAX_ID_LENGTH:
            return value
        raise InvalidCall(f"{name} must be 1 to {MAX_ID_LENGTH} characters long, got {len(value)}")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidCall(f"{name} must be a string or an integer, got {type(value).__name__}")


def _required_identifier(name: str, value: Any) -> str:
    identifier = _identifier(name, value)
    if identifier is None:
        raise InvalidCall(f"{name} is required")
    return identifier


def _object(name: str, value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise InvalidCall(f"{name} must be a dict, got {type(value).__name__}")


def _optional_text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidCall(f"{name} must be a string, got {type(value).__name__}")


class Client:
    """Sends events to a revolt collector (Segment HTTP Tracking API), batching them in the background.

    Calls like `track()` only validate, serialize and queue (a few microseconds); a daemon thread
    sends batches, retrying transient failures with backoff. Invalid calls and internal errors are
    logged on the "revolt.sdk" logger and return False instead of raising. With `queue_path`, events
    wait in a SQLite file until the collector acknowledges them, surviving a crash or a restart.
    Configuration errors (bad host, a queue file already in use) raise ValueError here, at startup.
    """

    def __init__(
        self,
        write_key: str,
        host: str = "http://127.0.0.1:8088",
        *,
        max_batch_size: int = 100,
        max_batch_bytes: int = 480_000,
        flush_interval: float = 0.5,
        gzip: bool = True,
        timeout: float = 10.0,
        max_queue_size: int = 10_000,
        on_full: str = "drop",
        block_timeout: float = 1.0,
        queue_path: str | os.PathLike[str] | None = None,
        send_in_background: bool = True,
        max_backoff: float = 30.0,
        max_retry_duration: float | None = None,
        shutdown_timeout: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        context: dict[str, Any] | None = None,
        on_error: Callable[[Exception, list[dict[str, Any]]], None] | None = None,
        debug: bool = False,
    ) -> None:
        _check_config(
            write_key=write_key,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            timeout=timeout,
            on_full=on_full,
            block_timeout=block_timeout,
            max_backoff=max_backoff,
            max_retry_duration=max_retry_duration,
            shutdown_timeout=shutdown_timeout,
            context=context,
        )
        if debug:
            logger.setLevel(logging.DEBUG)
            if not logger.handlers:
                logger.addHandler(logging.StreamHandler())
        self._debug = debug
        self._block_timeout: float | None = block_timeout if on_full == "block" else None
        self._shutdown_timeout = shutdown_timeout
        # The system clock has a fast path; an injected one (a simulated device clock) is formatted.
        self._now_text: Callable[[], str] = system_now_text if clock is None else functools.partial(_clock_text, clock)
        self._context = deep_merge(automatic_context(), context) if context else automatic_context()
        self._context_json, self._context_size = encode_json(self._context)
        self._stats = Stats()
        self._warned_at: dict[str, float] = {}
        self._closed = False
        self._close_lock = threading.Lock()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()  # one sender at a time keeps batches, and acks, in order

        # The sender first: it validates host, and must fail before a queue file is claimed.
        self._sender = BatchSender(
            host, write_key, use_gzip=gzip, timeout=timeout, user_agent=f"{LIBRARY_NAME}/{library_version()}"
        )
        self._queue: EventQueue = (
            DiskQueue(queue_path, max_queue_size) if queue_path is not None else MemoryQueue(max_queue_size)
        )
        self._delivery = BatchDelivery(
            self._queue,
            self._sender,
            self._stats,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            max_backoff=max_backoff,
            max_retry_duration=max_retry_duration,
            now_text=self._now_text,
            on_error=on_error,
            stop=self._stop,
        )
        self._consumer: Consumer | None = None
        if send_in_background:
            self._consumer = Consumer(
                self._queue,
                self._delivery,
                self._send_lock,
                max_batch_size=max_batch_size,
                max_batch_bytes=max_batch_bytes,
                flush_interval=flush_interval,
                stop=self._stop,
            )
            self._consumer.start()
        atexit.register(self._shutdown_at_exit)
        if len(self._queue):
            logger.info(
                "revolt sdk found %d undelivered events in %s; sending them first",
                len(self._queue),
                queue_path,
            )

    # -- the Segment calls ---------------------------------------------------------------------

    @_never_raises
    def track(
        self,
        user_id: str | int | None = None,
        event: str | None = None,
        properties: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: str | int | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record that a user did something. True when queued."""
        if not isinstance(event, str) or not event.strip():
            raise InvalidCall(f"event must be a non-empty string, got {event!r}")
        fields: dict[str, Any] = {"event": event}
        if properties is not None:
            fields["properties"] = _object("properties", properties)
        return self._enqueue("track", fields, user_id, anonymous_id, context, timestamp, integrations, message_id)

    @_never_raises
    def identify(
        self,
        user_id: str | int | None = None,
        traits: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: str | int | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Tie a user to their traits (and an anonymous id to the user). True when queued."""
        fields: dict[str, Any] = {}
        if traits is not None:
            fields["traits"] = _object("traits", traits)
        return self._enqueue("identify", fields, user_id, anonymous_id, context, timestamp, integrations, message_id)

    @_never_raises
    def page(
        self,
        user_id: str | int | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: str | int | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record a page view on the web. True when queued."""
        fields = self._view_fields(category, name, properties)
        return self._enqueue("page", fields, user_id, anonymous_id, context, timestamp, integrations, message_id)

    @_never_raises
    def screen(
        self,
        user_id: str | int | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: str | int | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record a screen view in a mobile app. True when queued."""
        fields = self._view_fields(category, name, properties)
        return self._enqueue("screen", fields, user_id, anonymous_id, context, timestamp, integrations, message_id)

    @_never_raises
    def group(
        self,
        user_id: str | int | None = None,
        group_id: str | int | None = None,
        traits: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: str | int | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Put a user in a group (company, team, account). True when queued."""
        fields: dict[str, Any] = {"groupId": _required_identifier("group_id", group_id)}
        if traits is not None:
            fields["traits"] = _object("traits", traits)
        return self._enqueue("group", fields, user_id, anonymous_id, context, timestamp, integrations, message_id)

    @_never_raises
    def alias(
        self,
        previous_id: str | int | None = None,
        user_id: str | int | None = None,
        context: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
        integrations: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Merge a previous identity into `user_id`. True when queued."""
        fields: dict[str, Any] = {"previousId": _required_identifier("previous_id", previous_id)}
        user = _required_identifier("user_id", user_id)
        return self._enqueue("alias", fields, user, None, context, timestamp, integrations, message_id)

    # -- delivery control ----------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued before this call is delivered or permanently refused.

        Returns False if `timeout` (seconds; None waits as long as it takes) passes first: with the
        collector down and `max_retry_duration=None`, only a timeout ends the wait.
        """
        try:
            if self._consumer is None:
                return self._flush_in_this_thread(timeout)
            if threading.current_thread() is self._consumer:
                logger.warning("flush() from the consumer thread (an on_error callback?) would wait for itself")
                return False
            target = self._queue.last_seq
            self._queue.hurry()
            try:
                return self._queue.wait_settled(target, timeout)
            finally:
                self._queue.relax()
        except Exception:
            logger.exception("revolt sdk flush failed")
            return False

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush for at most `timeout` seconds (default `shutdown_timeout`), then stop and close. Idempotent.

        Events still undelivered stay in `queue_path` for the next start; in memory they are lost,
        which is logged with their number.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True  # from here on, new events are refused
        try:
            self._shut_down(self._shutdown_timeout if timeout is None else timeout)
        except Exception:
            logger.exception("revolt sdk shutdown failed")
        finally:
            atexit.unregister(self._shutdown_at_exit)

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start, plus `pending`: events queued and not yet delivered or refused."""
        # `queued` is counted by the queue, under the lock put() takes anyway: one lock less per track().
        return {"queued": self._queue.total_put, **self._stats.snapshot(), "pending": len(self._queue)}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _view_fields(category: Any, name: Any, properties: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = _optional_text("name", name)
        if category is not None:
            fields["category"] = _optional_text("category", category)
        if properties is not None:
            fields["properties"] = _object("properties", properties)
        return fields

    def _enqueue(
        self,
        kind: str,
        fields: dict[str, Any],
        user_id: Any,
        anonymous_id: Any,
        context: Any,
        timestamp: Any,
        integrations: Any,
        message_id: Any,
    ) -> bool:
        if self._closed:
            self._stats.add("dropped_after_shutdown")
            self._warn_now_and_then("closed", "revolt sdk: %s() after shutdown() is dropped", kind)
            return False
        user = _identifier("user_id", user_id)
        anonymous = _identifier("anonymous_id", anonymous_id)
        if user is None and anonymous is None:
            raise InvalidCall("user_id or anonymous_id is required")
        if message_id is None:
            message_id = random_message_id()
        elif not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_LENGTH:
            raise InvalidCall(f"message_id must be a string of 1 to {MAX_ID_LENGTH} characters")
        if timestamp is None:
            original_timestamp = self._now_text()
        elif isinstance(timestamp, datetime):
            original_timestamp = format_timestamp(timestamp)
        else:
            raise InvalidCall(f"timestamp must be a datetime, got {type(timestamp).__name__}")

        message: dict[str, Any] = {
            "type": kind,
            "messageId": message_id,
            "originalTimestamp": original_timestamp,
        }
        if user is not None:
            message["userId"] = user
        if anonymous is not None:
            message["anonymousId"] = anonymous
        message.update(fields)
        if integrations is not None:
            message["integrations"] = _object("integrations", integrations)

        try:
            # The context is the bulk of a message and usually the client's own: serialized once in
            # __init__ and spliced in as the last member, which halves the cost of serializing.
            if context is None:
                context_json, context_size = self._context_json, self._context_size
            else:  # the call's context wins
                context_json, context_size = encode_json(deep_merge(self._context, _object("context", context)))
            message_json, message_size = encode_json(message)
            payload = f'{message_json[:-1]},"context":{context_json}}}'
            size = message_size + len(',"context":') + context_size
        except (
            TypeError,
            ValueError,
        ) as exc:  # orjson's errors are TypeErrors; a lone surrogate, a ValueError
            raise InvalidCall(f"the message cannot be sent as JSON: {exc}") from None
        if size > MAX_MESSAGE_BYTES:
            raise InvalidCall(f"the message is {size} bytes serialized; the limit is {MAX_MESSAGE_BYTES}")

        if not self._queue.put(payload, size, self._block_timeout):
            if self._closed:  # shutdown closed the queue while we were putting
                self._stats.add("dropped_after_shutdown")
                return False
            self._stats.add("dropped_queue_full")
            self._warn_now_and_then(
                "full",
                "revolt sdk queue is full (%d events); dropping new events (see stats['dropped_queue_full'])",
                self._queue.max_size,
            )
            return False
        if self._debug:
            logger.debug("queued %s %s", kind, message_id)
        return True

    def _warn_now_and_then(self, key: str, message: str, *args: Any) -> None:
        """Warn at most once per WARNING_INTERVAL per kind, so a flood of drops does not flood the logs."""
        now = time.monotonic()
        if now - self._warned_at.get(key, -math.inf) >= WARNING_INTERVAL:
            self._warned_at[key] = now
            logger.warning(message, *args)

    def _flush_in_this_thread(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        target = self._queue.last_seq
        if not self._send_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return False
        try:
            while not self._queue.settled_through(target):
                outcome = self._delivery.deliver_next(deadline)
                if outcome is Outcome.INTERRUPTED:
                    return False
                if outcome is Outcome.EMPTY:  # closed underneath us
                    break
            return self._queue.settled_through(target)
        finally:
            self._send_lock.release()

    def _shut_down(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        self._stop.set()  # interrupts a backoff wait at once
        self._queue.stop_waiting()
        if self._consumer is not None and threading.current_thread() is not self._consumer:
            # A little grace past the deadline for the thread to notice the stop.
            self._consumer.join(max(deadline - time.monotonic(), 0.1))
            if self._consumer.is_alive():
                logger.warning("revolt sdk consumer still busy with a request at shutdown; leaving it behind")
        if self._send_lock.acquire(timeout=0.1):  # not while a request may still be using the connection
            try:
                self._sender.close()
            finally:
                self._send_lock.release()
        left = self._queue.close()
        if not left:
            return
        if self._queue.persistent:
            logger.info("revolt sdk: %d undelivered events stay in the queue file for the next start", left)
        else:
            self._stats.add("lost_at_shutdown", left)
            logger.warning(
                "revolt sdk: %d events were not delivered and are lost at exit (in-memory queue; "
                "set queue_path to keep them across restarts)",
                left,
            )

    def _shutdown_at_exit(self) -> None:
        self.shutdown(self._shutdown_timeout)


def _check_config(
    *,
    write_key: Any,
    max_batch_size: int,
    max_batch_bytes: int,
    flush_interval: float,
    timeout: float,
    on_full: str,
    block_timeout: float,
    max_backoff: float,
    max_retry_duration: float | None,
    shutdown_timeout: float,
    context: Any,
) -> None:
    """Refuse a configuration that cannot work, at construction, where a mistake is cheap to see."""
    if not isinstance(write_key, str) or not write_key:
        raise ValueError("write_key must be a non-empty string")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    limit = COLLECTOR_MAX_BATCH_BYTES - BATCH_ENVELOPE_BYTES
    if not 1 <= max_batch_bytes <= limit:
        raise ValueError(
            f"max_batch_bytes must be between 1 and {limit} (the collector's limit), got {max_batch_bytes}"
        )
    if on_full not in ("drop", "block"):
        raise ValueError(f"on_full must be 'drop' or 'block', got {on_full!r}")
    if context is not None and not isinstance(context, dict):
        raise ValueError(f"context must be a dict, got {type(context).__name__}")
    for name, value in (
        ("flush_interval", flush_interval),
        ("block_timeout", block_timeout),
        ("max_backoff", max_backoff),
        ("shutdown_timeout", shutdown_timeout),
    ):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    if max_retry_duration is not None and max_retry_duration < 0:
        raise ValueError(f"max_retry_duration must not be negative, got {max_retry_duration}")
