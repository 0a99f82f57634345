"""Running the demo: plan traffic, register its sources, send it, and write the ground truth."""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from revolt_pipeline.clock import SimulatedClock
from revolt_pipeline.collector.admin_client import CollectorAdminClient
from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.collector.service import CollectorConfig
from revolt_pipeline.demo.generator import Traffic, ground_truth, plan_traffic
from revolt_pipeline.demo.population import PLATFORMS
from revolt_pipeline.demo.sender import SendReport, TrafficSender
from revolt_pipeline.settings import Settings
from revolt_pipeline.sources import add_source, load_sources

Progress = Callable[[int, int], None]


@dataclass
class DemoTrafficResult:
    traffic: Traffic
    report: SendReport
    truth: dict[str, Any]
    ground_truth_path: Path
    seconds: float


def ensure_demo_sources(sources_file: Path) -> dict[str, str]:
    """Write keys of the demo's sources by source name, registering the ones that are missing."""
    existing = {source.name: source.write_key for source in load_sources(sources_file).values()}
    for platform, (name, _, _) in PLATFORMS.items():
        if name not in existing:
            existing[name] = add_source(sources_file, name, platform).write_key
    return {name: existing[name] for name, _, _ in PLATFORMS.values()}


def _wait_until_sources_known(url: str, write_keys: dict[str, str], timeout: float = 15.0) -> None:
    """A running collector re-reads its sources file within seconds; wait for it rather than fail."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=10) as http:
        for key in write_keys.values():
            while http.post(url + "/v1/batch", json={"batch": []}, auth=(key, "")).status_code == 401:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the collector at {url} does not know the demo sources; "
                        "is it using the same REVOLT_SOURCES_FILE?"
                    )
                time.sleep(0.25)


def completion_time(traffic: Traffic, through: date | None = None) -> datetime:
    """Just after midnight following the last delivery (or the day `through`, if later): every received
    day of the demo is then over, and the collector's watermark has passed it."""
    last = max(traffic.end.date(), through) if through else traffic.end.date()
    return datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1, minutes=1)


@contextmanager
def in_process_collector(settings: Settings, traffic: Traffic) -> Iterator[tuple[CollectorServer, SimulatedClock]]:
    """A collector on a thread, on a simulated clock starting at the traffic's first delivery."""
    clock = SimulatedClock(traffic.messages[0].send_time)
    with CollectorServer(CollectorConfig.from_settings(settings), clock=clock) as server:
        yield server, clock


def send_to_in_process_collector(
    server: CollectorServer,
    clock: SimulatedClock,
    traffic: Traffic,
    write_keys: dict[str, str],
    progress: Progress | None,
    through: date | None = None,
) -> SendReport:
    """Send everything, then move time past the last day (or `through`) and land it all, so every day is complete."""
    report = TrafficSender(traffic, server.url, write_keys, clock.set).send(progress)
    clock.set(completion_time(traffic, through))
    server.call(server.service.flush())
    return report


def write_ground_truth(settings: Settings, traffic: Traffic, path: Path | None) -> tuple[dict[str, Any], Path]:
    truth = ground_truth(traffic)
    target = path or settings.home / "demo" / "ground-truth.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(truth, indent=1))
    return truth, target


def run_demo_traffic(
    settings: Settings,
    *,
    seed: int,
    users: int,
    days: int,
    start: date | None,
    collector_url: str | None,
    ground_truth_path: Path | None,
    progress: Progress | None = None,
) -> DemoTrafficResult:
    """Send the demo's traffic to a collector: the one at `collector_url`, or one started in-process."""
    began = time.monotonic()
    traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
    write_keys = ensure_demo_sources(settings.sources_file)
    if collector_url:
        admin = CollectorAdminClient(collector_url, settings.resolved_admin_token())
        try:
            admin.set_clock(traffic.messages[0].send_time)
            _wait_until_sources_known(collector_url, write_keys)
            report = TrafficSender(traffic, collector_url, write_keys, admin.set_clock).send(progress)
            admin.set_clock(completion_time(traffic))
            admin.flush()
        finally:
            admin.close()
    else:
        with in_process_collector(settings, traffic) as (server, clock):
            report = send_to_in_process_collector(server, clock, traffic, write_keys, progress)
    truth, path = write_ground_truth(settings, traffic, ground_truth_path)
    return DemoTrafficResult(traffic, report, truth, path, time.monotonic() - began)
