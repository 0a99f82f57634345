"""Replay planned demo traffic through the SDK into a collector, moving simulated time as it goes.

Every device gets its own SDK client with its own (possibly wrong) clock, so `originalTimestamp`
and `sentAt` carry the device's skew exactly as a real phone would. Time stands still while a tick's
batches are sent; the collector's clock is set to the tick first, so receive times are exact.
"""

import base64
import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from revolt_pipeline.demo.generator import MalformedMessage, PlannedMessage, Traffic
from revolt_pipeline.demo.population import PLATFORMS, Device, device_ip
from revolt_pipeline.sdk import Client

log = logging.getLogger("revolt.demo")


@dataclass
class SendReport:
    ticks: int = 0
    messages: int = 0
    malformed: int = 0
    undelivered: int = 0


class _DeviceClock:
    """The shared simulated time plus one device's error."""

    def __init__(self, now: Callable[[], datetime], skew: timedelta) -> None:
        self._now, self._skew = now, skew

    def __call__(self) -> datetime:
        return self._now() + self._skew


def _device_context(device: Device) -> dict[str, Any]:
    platform = device.platform
    return {
        "app": {"name": "Tempo", "build": device.app_version(0).replace(".", "")},
        "device": {
            "id": device.device_id,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "type": platform,
        },
        "os": {"name": device.os_name, "version": device.os_version},
        "library": {"name": PLATFORMS[platform][1], "version": "demo"},
        **({"userAgent": f"Mozilla/5.0 ({device.os_name}) {device.browser_or_app}"} if platform == "web" else {}),
    }


class TrafficSender:
    def __init__(
        self,
        traffic: Traffic,
        collector_url: str,
        write_keys: dict[str, str],
        set_collector_clock: Callable[[datetime], None],
        *,
        workers: int = 4,
    ) -> None:
        self.traffic = traffic
        self.collector_url = collector_url
        self.write_keys = write_keys
        self.set_collector_clock = set_collector_clock
        self.workers = workers
        self._now = traffic.messages[0].send_time if traffic.messages else datetime.now().astimezone()
        self._clients: dict[int, Client] = {}
        self._timezones = {d.index: p.region for p in traffic.people for d in p.devices}
        self._http = httpx.Client(timeout=60)

    def _client(self, device: Device) -> Client:
        client = self._clients.get(device.index)
        if client is None:
            region = self._timezones[device.index]
            zone, _, locale = region
            address = device_ip(device, region)
            context = {
                **_device_context(device),
                "locale": locale,
                "timezone": zone,
                **({"ip": address} if address else {}),
            }
            client = Client(
                self.write_keys[device.source],
                self.collector_url,
                send_in_background=False,
                clock=_DeviceClock(lambda: self._now, device.skew),
                context=context,
                max_queue_size=1_000_000,
                max_retry_duration=60.0,
            )
            self._clients[device.index] = client
        return client

    def _enqueue(self, message: PlannedMessage) -> None:
        device = self.traffic.devices[message.device]
        client = self._client(device)
        common: dict[str, Any] = {
            "context": {"app": {"version": message.app_version}},
            "timestamp": message.event_time + device.skew,
            "message_id": message.message_id,
        }
        ids = {"user_id": message.user_id, "anonymous_id": message.anonymous_id}
        kind = message.kind
        if kind == "track":
            queued = client.track(**ids, event=message.name, properties=message.properties, **common)
        elif kind == "page":
            queued = client.page(**ids, name=message.name, properties=message.properties, **common)
        elif kind == "screen":
            queued = client.screen(**ids, name=message.name, properties=message.properties, **common)
        elif kind == "identify":
            queued = client.identify(**ids, traits=message.traits, **common)
        elif kind == "group":
            queued = client.group(**ids, group_id=message.group_id, traits=message.traits, **common)
        else:
            queued = client.alias(previous_id=message.previous_id, user_id=message.user_id, **common)
        if not queued:
            raise RuntimeError(f"the SDK refused planned message {message.message_id} ({kind})")

    def _send_malformed(self, items: list[MalformedMessage]) -> None:
        """A buggy build posts these itself; the collector quarantines them."""
        by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            by_source[item.source].append(item.payload)
        for source, payloads in by_source.items():
            key = base64.b64encode(f"{self.write_keys[source]}:".encode()).decode()
            body = orjson.dumps({"batch": payloads, "sentAt": self._now.isoformat()})
            response = self._http.post(
                self.collector_url + "/v1/batch", content=body, headers={"Authorization": f"Basic {key}"}
            )
            if response.status_code != 400:
                raise RuntimeError(f"malformed demo batch answered {response.status_code}: {response.text[:300]}")

    def send(self, progress: Callable[[int, int], None] | None = None) -> SendReport:
        report = SendReport()
        due: dict[datetime, tuple[list[PlannedMessage], list[MalformedMessage]]] = defaultdict(lambda: ([], []))
        for message in self.traffic.messages:
            due[message.send_time][0].append(message)
        for malformed in self.traffic.malformed:
            due[malformed.send_time][1].append(malformed)
        total = len(self.traffic.messages)
        if progress:
            progress(0, total)  # the start of sending: the rate, and so the time left, count from here
        with ThreadPoolExecutor(self.workers, thread_name_prefix="demo-send") as pool:
            for tick in sorted(due):
                messages, malformed = due[tick]
                self._now = tick
                self.set_collector_clock(tick)
                touched = {message.device for message in messages}
                for message in messages:
                    self._enqueue(message)
                if malformed:
                    self._send_malformed(malformed)
                flushed = list(pool.map(lambda index: self._clients[index].flush(timeout=120), sorted(touched)))
                if not all(flushed):
                    raise RuntimeError(f"some demo batches were not delivered at {tick.isoformat()}")
                report.ticks += 1
                report.messages += len(messages)
                report.malformed += len(malformed)
                if progress:
                    progress(report.messages, total)
        for client in self._clients.values():
            stats = client.stats
            report.undelivered += stats.get("failed_batches", 0) + stats.get("rejected_by_collector", 0)
            client.shutdown(timeout=5)
        self._http.close()
        return report
