"""Measure what one Client.track() costs the caller, with the memory and the disk queue (not a test).

    .venv/bin/python -m revolt_pipeline_tests.sdk.measure_track_cost

Nothing drains the queue (send_in_background=False, no flush), so only the caller's work is timed:
validate, build, serialize, store. Rounds of 2,000 calls on a fresh client each, garbage collector
on, as in an application; prints the median and the best round.
"""

import json
import logging
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from revolt_pipeline.sdk import Client

ROUNDS = 15
CALLS_PER_ROUND = 2_000
PROPERTIES = {"plan": "pro", "price": 12.5, "items": 3, "path": "/checkout"}


def microseconds_per_track(**options: Any) -> float:
    client = Client("key", "http://127.0.0.1:9", send_in_background=False, **options)
    track = client.track
    started = time.perf_counter()
    for _ in range(CALLS_PER_ROUND):
        track(user_id="user-123", event="Order Completed", properties=PROPERTIES)
    elapsed = time.perf_counter() - started
    assert client.stats["queued"] == CALLS_PER_ROUND, client.stats
    client.shutdown(timeout=0)
    return elapsed / CALLS_PER_ROUND * 1e6


def report(label: str, rounds: list[float]) -> None:
    print(f"{label}: median {statistics.median(rounds):.1f} µs per track(), best round {min(rounds):.1f} µs")


def calibration() -> str:
    """What this machine's speed looks like, to compare the numbers with another machine's."""
    repeats = 20_000
    seconds = timeit.timeit(lambda: json.dumps(_TYPICAL_MESSAGE), number=repeats)
    return f"calibration: json.dumps() of a typical message takes {seconds / repeats * 1e6:.1f} µs here"


_TYPICAL_MESSAGE = {
    "type": "track",
    "messageId": "2f1e9a4c-0d0b-4c39-9e8e-0b6a1f1f3c11",
    "originalTimestamp": "2026-11-26T12:00:00.123Z",
    "userId": "user-123",
    "event": "Order Completed",
    "properties": PROPERTIES,
    "context": {"library": {"name": "revolt-python", "version": "0.1.0"}, "os": {"name": "Linux"}},
}


def main() -> None:
    logging.getLogger("revolt.sdk").setLevel(logging.ERROR)  # the events left undelivered are expected
    print(calibration())
    report("memory queue", [microseconds_per_track() for _ in range(ROUNDS)])
    with tempfile.TemporaryDirectory() as folder:
        rounds = []
        for number in range(ROUNDS):
            rounds.append(microseconds_per_track(queue_path=Path(folder) / f"queue-{number}.sqlite"))
        report("disk queue  ", rounds)


if __name__ == "__main__":
    main()
