"""`revolt demo-traffic`: plan traffic, make sure its sources exist, send it, write the ground truth."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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


@dataclass
class DemoTrafficResult:
    traffic: Traffic
    report: SendReport
    truth: dict
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
                        f"the collector at {url} does not know the demo sources; is it using "
                        "the same REVOLT_SOURCES_FILE?"
                    )
                time.sleep(0.25)


def run_demo_traffic(
    settings: Settings,
    *,
    seed: int,
    users: int,
    days: int,
    start: date | None,
    collector_url: str | None,
    ground_truth_path: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoTrafficResult:
    """Send the demo's traffic to a collector: the one at `collector_url`, or one started in-process."""
    began = time.monotonic()
    traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
    write_keys = ensure_demo_sources(settings.sources_file)
    first_tick = traffic.messages[0].send_time
    if collector_url:
        admin = CollectorAdminClient(collector_url, settings.resolved_admin_token())
        try:
            admin.set_clock(first_tick)
            _wait_until_sources_known(collector_url, write_keys)
            report = TrafficSender(traffic, collector_url, write_keys, admin.set_clock).send(progress)
            admin.flush()
        finally:
            admin.close()
    else:
        clock = SimulatedClock(first_tick)
        with CollectorServer(CollectorConfig.from_settings(settings), clock=clock) as server:
            report = TrafficSender(traffic, server.url, write_keys, clock.set).send(progress)
            server.call(server.service.flush())
    truth = ground_truth(traffic)
    path = ground_truth_path or settings.home / "demo" / "ground-truth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=1))
    return DemoTrafficResult(traffic, report, truth, path, time.monotonic() - began)
