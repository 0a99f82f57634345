"""Seeing batches through to the collector: the retry policy, and the daemon thread that batches.

`BatchDelivery` owns one batch from `take` until it is settled (acked) or handed back (released),
so an event is never lost between the queue and the network, whatever is raised. The same code runs
in the consumer thread and, with `send_in_background=False`, in the thread that calls `flush()`.
"""

from __future__ import annotations

import enum
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from revolt_pipeline.sdk.queues import EventQueue, QueuedEvent
from revolt_pipeline.sdk.request import (
    BatchSender,
    CollectorRejectedEvents,
    Delivered,
    PermanentRejection,
    TransientFailure,
)

logger = logging.getLogger("revolt.sdk")

BACKOFF_BASE = 0.1  # seconds before the first retry, at most; doubles with every failure


class Outcome(enum.Enum):
    EMPTY = "nothing was ready"
    SETTLED = "the batch was delivered or given up on"
    INTERRUPTED = "the deadline passed or shutdown began; the batch went back to the queue"


class Stats:
    """Counters shared by the caller's threads and the consumer; a lock because `+=` is not atomic."""

    NAMES = (
        "sent",
        "rejected_by_collector",
        "failed_batches",
        "failed_events",
        "dropped_queue_full",
        "dropped_invalid",
        "dropped_error",
        "dropped_after_shutdown",
        "lost_at_shutdown",
        "retries",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def full_jitter_backoff(failures: int, cap: float) -> float:
    """A random wait in [0, min(cap, base * 2**(failures-1))]: spreads retries of many clients apart."""
    ceiling = min(cap, BACKOFF_BASE * 2.0 ** min(failures - 1, 60))
    return random.uniform(0.0, ceiling)


class BatchDelivery:
    """Takes the oldest batch and retries it until delivered, refused for good, out of time, or stopped."""

    def __init__(
        self,
        queue: EventQueue,
        sender: BatchSender,
        stats: Stats,
        *,
        max_batch_size: int,
        max_batch_bytes: int,
        max_backoff: float,
        max_retry_duration: float | None,
        now_text: Callable[[], str],
        on_error: Callable[[Exception, list[dict[str, Any]]], None] | None,
        stop: threading.Event,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._stats = stats
        self._max_batch_size = max_batch_size
        self._max_batch_bytes = max_batch_bytes
        self._max_backoff = max_backoff
        self._max_retry_duration = max_retry_duration
        self._now_text = now_text
        self._on_error = on_error
        self._stop = stop

    def deliver_next(self, deadline: float | None = None) -> Outcome:
        """Deliver one batch. `deadline` (time.monotonic) bounds the waiting, as does the stop event."""
        events = self._queue.take(self._max_batch_size, self._max_batch_bytes)
        if not events:
            return Outcome.EMPTY
        settled = False
        try:
            settled = self._see_through(events, deadline)
        finally:
            if not settled:  # interrupted, or an unexpected error: the events must stay in the queue
                self._queue.release(events)
        return Outcome.SETTLED if settled else Outcome.INTERRUPTED

    def _see_through(self, events: list[QueuedEvent], deadline: float | None) -> bool:
        payloads = [event.payload for event in events]
        first_failure: float | None = None
        failures = 0
        while True:
            if self._stop.is_set() or _remaining(deadline) == 0.0:
                return False
            # Within a deadline, a slow request must not outlast it (a floor keeps the attempt meaningful).
            request_timeout = _remaining(deadline)
            if request_timeout is not None:
                request_timeout = max(request_timeout, 0.05)
            try:
                # sentAt per attempt, from the clock of originalTimestamp: skew correction needs both.
                delivered = self._sender.send(payloads, self._now_text(), timeout=request_timeout)
            except PermanentRejection as rejection:
                self._record_rejected_batch(rejection, payloads)
                self._queue.ack(events)
                return True
            except TransientFailure as failure:
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                failures += 1
                if failure.retry_after is not None:
                    delay = failure.retry_after
                else:
                    delay = full_jitter_backoff(failures, self._max_backoff)
                if self._max_retry_duration is not None and now + delay - first_failure > self._max_retry_duration:
                    self._record_given_up(failure, payloads, failures)
                    self._queue.ack(events)
                    return True
                self._stats.add("retries")
                log = logger.warning if failures == 1 else logger.debug
                log(
                    "batch of %d events not delivered (%s); retry %d in %.2fs",
                    len(events),
                    failure,
                    failures,
                    delay,
                )
                remaining = _remaining(deadline)
                if self._stop.wait(delay if remaining is None else min(delay, remaining)):
                    return False
                continue
            # Counted and reported before the ack, so that once flush() returns, stats are up to date.
            self._record_delivered(delivered, payloads)
            self._queue.ack(events)
            return True

    def _record_delivered(self, delivered: Delivered, payloads: list[str]) -> None:
        rejected = delivered.rejected
        self._stats.add("sent", len(payloads) - len(rejected))
        if not rejected:
            return
        self._stats.add("rejected_by_collector", len(rejected))
        first = rejected[0]
        logger.warning(
            "collector rejected %d of %d events (first: index %s, %s: %s); they are quarantined on the "
            "collector and will not be resent",
            len(rejected),
            len(payloads),
            first.get("index"),
            first.get("reason"),
            first.get("message"),
        )
        self._report(
            CollectorRejectedEvents(f"collector rejected {len(rejected)} of {len(payloads)} events"),
            [payloads[entry["index"]] for entry in rejected],
        )

    def _record_rejected_batch(self, rejection: PermanentRejection, payloads: list[str]) -> None:
        self._stats.add("failed_batches")
        self._stats.add("failed_events", len(payloads))
        logger.error("collector refused a batch of %d events, dropping it: %s", len(payloads), rejection)
        self._report(rejection, payloads)

    def _record_given_up(self, failure: TransientFailure, payloads: list[str], failures: int) -> None:
        self._stats.add("failed_batches")
        self._stats.add("failed_events", len(payloads))
        logger.error(
            "giving up on a batch of %d events after %d failed attempts over max_retry_duration=%ss: %s",
            len(payloads),
            failures,
            self._max_retry_duration,
            failure,
        )
        self._report(failure, payloads)

    def _report(self, error: Exception, payloads: list[str]) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(error, [json.loads(payload) for payload in payloads])
        except Exception:
            logger.exception("on_error callback raised")


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)


class Consumer(threading.Thread):
    """The background sender: waits for a first event, lingers up to `flush_interval` for a full batch
    (by count or bytes), sends it, and repeats until stopped.

    A daemon, so a forgotten Client never keeps the process alive; the atexit hook flushes instead.
    """

    def __init__(
        self,
        queue: EventQueue,
        delivery: BatchDelivery,
        send_lock: threading.Lock,
        *,
        max_batch_size: int,
        max_batch_bytes: int,
        flush_interval: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="revolt-sdk-consumer", daemon=True)
        self._queue = queue
        self._delivery = delivery
        self._send_lock = send_lock
        self._max_batch_size = max_batch_size
        self._max_batch_bytes = max_batch_bytes
        self._flush_interval = flush_interval
        # Not `_stop`: threading.Thread has a method of that name that join() calls.
        self._stopping = stop

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.wait_ready(1, 1, timeout=None)
                if self._stopping.is_set():
                    break
                self._queue.wait_ready(self._max_batch_size, self._max_batch_bytes, timeout=self._flush_interval)
                if self._stopping.is_set():
                    break
                with self._send_lock:
                    self._delivery.deliver_next()
            except Exception:
                # Never let the thread die: a dead consumer would silently stop all delivery.
                logger.exception("revolt sdk consumer failed; carrying on in 1s")
                self._stopping.wait(1.0)
        logger.debug("revolt sdk consumer stopped")
