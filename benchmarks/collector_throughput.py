"""Collector throughput with durable acknowledgements, against a bare endpoint, and the SDK's own cost per call.

A closed-loop load generator (a fixed number of keep-alive connections, each waiting for its
answer before sending again) posts pre-built batches of 100 events over 127.0.0.1, in rounds: first to a
bare endpoint (`benchmarks/_bare_endpoint.py`: the body appended to a file and fsynced with the collector's
group commit, no validation), then to `revolt collector serve`. Every 200 means the events were fsynced.
Prints acknowledged events/s, p50/p99 latency and server CPU per event for both, the collector's rate as a
ratio of the bare one (bar: 0.6x), the collector's peak RSS and whether everything acknowledged landed, then
the per-call cost of the SDK's `track()`.

`--suppressed N` puts N deleted ids on the collector's suppression list (docs/privacy.md) first, 1% of the
load's users among them: their events are dropped (and not counted as acknowledged), every other is checked.

    python -m benchmarks.collector_throughput [--seconds 15] [--connections 16] [--rounds 2] [--no-sdk]
        [--suppressed 10000]
"""

import argparse
import asyncio
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from benchmarks._collector_process import WRITE_KEY, CollectorProcess, free_port

if TYPE_CHECKING:
    from revolt_pipeline.sdk import Client

EVENTS_PER_BATCH = 100
USERS = 5000
BENCHMARK_SALT = "benchmark-privacy-salt"
RATIO_BAR = 0.6  # the collector's acknowledged events/s, at least this share of the bare endpoint's (issue 11)
BARE_MODES = {"parse": "json.loads, a line per event, fsync", "spool": "the body's bytes, fsync"}


def build_requests(count: int, port: int) -> list[bytes]:
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    requests = []
    for batch_number in range(count):
        batch = [
            {
                "type": "track",
                "event": "Timer Started",
                "userId": f"user-{(batch_number * EVENTS_PER_BATCH + i) % USERS}",
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


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_figures(port: int, pid: int, seconds: float, connections: int) -> dict[str, Any]:
    """Drive an endpoint (after a warm-up) and measure it: events acknowledged with a 200 per second, latencies,
    and the server's CPU seconds per 1,000 events (steadier than the rate on a shared machine)."""
    requests = build_requests(400, port)
    asyncio.run(drive(port, requests, 2.0, connections))  # warm-up, not counted
    cpu = process_cpu_seconds(pid)
    started = time.perf_counter()
    latencies, statuses = asyncio.run(drive(port, requests, seconds, connections))
    elapsed = time.perf_counter() - started
    cpu = process_cpu_seconds(pid) - cpu
    acknowledged = statuses.get(200, 0) * EVENTS_PER_BATCH
    return {
        "elapsed": elapsed,
        "rate": acknowledged / elapsed,
        "acknowledged": acknowledged,
        "statuses": statuses,
        "latencies": latencies,
        "cpu_ms_per_1000": 1e6 * cpu / max(acknowledged, 1),
    }


def print_load(label: str, figures: dict[str, Any]) -> None:
    latencies = figures["latencies"]
    print(
        f"  {label}: {figures['rate']:,.0f} events/s acknowledged (fsynced before 200), "
        f"{figures['cpu_ms_per_1000']:.1f} server CPU ms per 1,000 events; "
        f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; statuses {figures['statuses']}",
        flush=True,
    )


def bare_figures(seconds: float, connections: int, mode: str) -> dict[str, Any]:
    """The bare endpoint (`benchmarks/_bare_endpoint.py`, in `mode`) under the same load."""
    folder = Path(tempfile.mkdtemp(prefix="revolt-bare-"))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks._bare_endpoint",
            "--port",
            str(port),
            "--folder",
            str(folder),
            "--mode",
            mode,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bare endpoint did not start") from None
                time.sleep(0.1)
        figures = load_figures(port, process.pid, seconds, connections)
        print_load(f"bare endpoint ({BARE_MODES[mode]})", figures)
        return figures
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def write_suppression_list(home: Path, count: int) -> None:
    """`count` deleted ids on the list of the collector in `home`: 1% of the load's users, the rest strangers."""
    from revolt_pipeline.contract.pseudonyms import pseudonym
    from revolt_pipeline.storage import ObjectStore
    from revolt_pipeline.storage.suppression import suppress

    ours = min(count, USERS // 100)
    ids = [f"user-{n}" for n in range(ours)] + [f"deleted-{n}" for n in range(count - ours)]
    suppress(ObjectStore((home / "store").as_uri()), [pseudonym(BENCHMARK_SALT, identifier) for identifier in ids])


def collector_figures(seconds: float, connections: int, env: dict[str, str], suppressed: int = 0) -> dict[str, Any]:
    collector = CollectorProcess(**env, REVOLT_PRIVACY_SALT=BENCHMARK_SALT)
    if suppressed:
        write_suppression_list(collector.home, suppressed)
    collector.start()
    try:
        figures = load_figures(collector.port, collector.process.pid, seconds, connections)  # type: ignore[union-attr]
        stats = collector.admin("GET", "/admin/stats")
        accepted = stats["acceptedBySource"].get("bench", 0)
        collector.admin("POST", "/admin/flush")
        today = datetime.now(UTC).date().isoformat()
        landed = collector.admin("GET", f"/admin/landed?received_date={today}")["landed"]["events"]
        workers = f", {env['REVOLT_COLLECTOR_WORKERS']} workers" if "REVOLT_COLLECTOR_WORKERS" in env else ""
        print_load(f"collector{workers}", figures)
        dropped = stats["suppressedByStage"]["received"]
        print(
            f"    peak RSS {collector.peak_rss_mb():.0f} MB; landed after flush: {landed:,} of {accepted:,} "
            f"acknowledged (warm-up included){'' if landed == accepted else ': LOST EVENTS'}"
            + (f"; {dropped:,} events of {suppressed:,} suppressed ids dropped" if suppressed else ""),
            flush=True,
        )
        figures["landed_all"] = landed == accepted
        return figures
    finally:
        collector.stop()


def compare_with_bare(seconds: float, connections: int, rounds: int, env: dict[str, str], suppressed: int = 0) -> None:
    """Rounds of the bare endpoint (parsing, then spooling the bytes alone) and the collector, under the same
    load: the collector as a ratio of each bare rate, per round (only ratios taken in one run compare)."""
    print(f"collector against a bare endpoint: {connections} connections, batches of {EVENTS_PER_BATCH}, {seconds:g} s")
    ratios: dict[str, list[float]] = {mode: [] for mode in BARE_MODES}
    cpu_ratios: dict[str, list[float]] = {mode: [] for mode in BARE_MODES}
    landed = True
    for round_number in range(1, rounds + 1):
        print(f"round {round_number} of {rounds} (load average {load_average()})", flush=True)
        bare = {mode: bare_figures(seconds, connections, mode) for mode in BARE_MODES}
        collector = collector_figures(seconds, connections, env, suppressed)
        landed &= collector["landed_all"]
        for mode, figures in bare.items():
            ratios[mode].append(collector["rate"] / figures["rate"])
            cpu_ratios[mode].append(figures["cpu_ms_per_1000"] / collector["cpu_ms_per_1000"])
            print(
                f"  collector / bare ({mode}): {ratios[mode][-1]:.2f}x the rate, "
                f"{cpu_ratios[mode][-1]:.2f}x the events per server CPU second"
            )
    for mode in BARE_MODES:
        median = statistics.median(ratios[mode])
        figures = f"median {median:.2f}x (rounds {', '.join(f'{ratio:.2f}' for ratio in ratios[mode])})"
        per_cpu = ", ".join(f"{ratio:.2f}" for ratio in cpu_ratios[mode])
        if mode == "parse":
            verdict = "PASS" if median >= RATIO_BAR and landed else "MISS"
            print(f"{verdict}  collector / bare endpoint ({BARE_MODES[mode]}) >= {RATIO_BAR}x: {figures}; ", end="")
        else:
            print(f"      collector / bare endpoint ({BARE_MODES[mode]}): {figures}; ", end="")
        print(f"per server CPU second {per_cpu}x")
    print(f"every acknowledged event landed: {landed}; load average {load_average()}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    parser.add_argument("--rounds", type=int, default=2, help="bare endpoint then collector, this many times")
    parser.add_argument("--no-sdk", action="store_true", help="skip the SDK's track() figures")
    parser.add_argument("--suppressed", type=int, default=0, help="deleted ids on the suppression list")
    arguments = parser.parse_args()
    compare_with_bare(arguments.seconds, arguments.connections, arguments.rounds, {}, arguments.suppressed)
    if not arguments.no_sdk:
        sdk_figures(arguments.sdk_calls)


if __name__ == "__main__":
    main()
