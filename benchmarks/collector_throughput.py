"""Collector throughput with durable acknowledgements, and the SDK's own cost per call.

A closed-loop load generator (a fixed number of keep-alive connections, each waiting for its
answer before sending again) posts pre-built batches of 100 events to `revolt collector serve`
over 127.0.0.1. Every 200 means the events were fsynced. Prints accepted events/s, p50/p99
latency, the collector's peak RSS, and then the per-call cost of the SDK's `track()`.

    python -m benchmarks.collector_throughput [--seconds 15] [--connections 16]
"""

import argparse
import asyncio
import base64
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from benchmarks._collector_process import WRITE_KEY, CollectorProcess

if TYPE_CHECKING:
    from revolt_pipeline.sdk import Client

EVENTS_PER_BATCH = 100


def build_requests(count: int, port: int) -> list[bytes]:
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    requests = []
    for batch_number in range(count):
        batch = [
            {
                "type": "track",
                "event": "Timer Started",
                "userId": f"user-{(batch_number * EVENTS_PER_BATCH + i) % 5000}",
                "messageId": str(uuid.uuid4()),
                "originalTimestamp": now,
                "properties": {"project": "apollo", "billable": True, "duration_s": 1200 + i},
                "context": {
                    "app": {"name": "tracker", "version": "4.2.0", "build": "420"},
                    "os": {"name": "iOS", "version": "18.1"},
                    "device": {"id": "d-1", "model": "iPhone16,2", "manufacturer": "Apple", "type": "ios"},
                    "locale": "en-US",
                    "timezone": "America/New_York",
                    "library": {"name": "analytics-ios", "version": "4.1.8"},
                },
            }
            for i in range(EVENTS_PER_BATCH)
        ]
        body = orjson.dumps({"batch": batch, "sentAt": now})
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Basic {auth}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append(head + body)
    return requests


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def connection(
    port: int,
    requests: list[bytes],
    offset: int,
    stop_at: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = offset
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        writer.write(requests[index % len(requests)])
        status = await read_response(reader)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        index += 1
    writer.close()


async def drive(port: int, requests: list[bytes], seconds: float, connections: int) -> tuple[list[float], dict]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(connection(port, requests, i * 7, stop_at, latencies, statuses) for i in range(connections)))
    return latencies, statuses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def collector_figures(seconds: float, connections: int) -> None:
    collector = CollectorProcess().start()
    try:
        requests = build_requests(400, collector.port)
        asyncio.run(drive(collector.port, requests, 2.0, connections))  # warm-up, not counted
        warm = collector.admin("GET", "/admin/stats")["acceptedBySource"].get("bench", 0)
        started = time.perf_counter()
        latencies, statuses = asyncio.run(drive(collector.port, requests, seconds, connections))
        elapsed = time.perf_counter() - started
        stats = collector.admin("GET", "/admin/stats")
        accepted = stats["acceptedBySource"].get("bench", 0) - warm
        collector.admin("POST", "/admin/flush")
        today = datetime.now(UTC).date().isoformat()
        landed = collector.admin("GET", f"/admin/landed?received_date={today}")["landed"]["events"]
        print(f"collector: {connections} connections, batches of {EVENTS_PER_BATCH}, {elapsed:.1f} s")
        print(f"  accepted events/s (fsynced before 200): {accepted / elapsed:,.0f}")
        print(f"  requests: {sum(statuses.values()):,} statuses {statuses}")
        print(
            f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
        print(f"  collector peak RSS: {collector.peak_rss_mb():.0f} MB")
        print(f"  landed after flush: {landed:,} of {accepted + warm:,} acknowledged (warm-up included)")
    finally:
        collector.stop()


def time_track_calls(client: "Client", calls: int) -> float:
    properties = {"project": "apollo", "billable": True}
    started = time.perf_counter()
    for i in range(calls):
        client.track(user_id=f"user-{i % 100}", event="Timer Started", properties=properties)
    return (time.perf_counter() - started) / calls


def sdk_figures(calls: int) -> None:
    """track() cost: while the SDK's own thread sends to a live collector, against a collector that
    never answers (nothing may block), and with the on-disk queue."""
    import socket
    import tempfile
    from pathlib import Path

    from revolt_pipeline.sdk import Client

    collector = CollectorProcess().start()
    hanging = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        cases = [
            ("memory queue, sending to a live collector", collector.url, None),
            ("memory queue, collector never answers", f"http://127.0.0.1:{hanging.getsockname()[1]}", None),
            ("disk queue, sending to a live collector", collector.url, Path(tempfile.mkdtemp()) / "q.sqlite"),
        ]
        for label, url, queue_path in cases:
            client = Client(WRITE_KEY, url, max_queue_size=calls + 1, queue_path=queue_path, timeout=600)
            per_call = time_track_calls(client, calls)
            if url == collector.url:
                client.flush(timeout=300)
            client.shutdown(timeout=0)
            print(f"sdk track(), {label}: {per_call * 1e6:.1f} µs per call over {calls:,} calls")
    finally:
        hanging.close()
        collector.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sdk-calls", type=int, default=50_000)
    arguments = parser.parse_args()
    collector_figures(arguments.seconds, arguments.connections)
    sdk_figures(arguments.sdk_calls)


if __name__ == "__main__":
    main()
