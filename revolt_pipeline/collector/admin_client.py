"""A small client of the collector's admin API for the pipeline and the demo, and the typed forms of its answers."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from revolt_pipeline.contract import format_timestamp, parse_timestamp


def _moment(text: str) -> datetime:
    moment = parse_timestamp(text)
    if moment is None:
        raise ValueError(f"the collector reported an unreadable time {text!r}")
    return moment


@dataclass(frozen=True)
class LandedObjectReport:
    key: str
    area: str
    received_date: date
    hour: int
    events: int
    bytes: int


@dataclass(frozen=True)
class FlushReport:
    collector_id: str
    watermark: datetime
    uploaded: tuple[LandedObjectReport, ...]
    spool_events: int

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "FlushReport":
        return cls(
            collector_id=document["collectorId"],
            watermark=_moment(document["watermark"]),
            uploaded=tuple(_landed_object(item) for item in document["uploaded"]),
            spool_events=document["spoolEvents"],
        )


@dataclass(frozen=True)
class LandedReport:
    """What one collector landed for one received date, and what it still holds for it."""

    collector_id: str
    received_date: date
    watermark: datetime
    landed_events: int
    landed_quarantined: int
    pending_events: int
    pending_quarantined: int
    objects: tuple[LandedObjectReport, ...]

    @property
    def acknowledged_events(self) -> int:
        """Events the collector answered 200 for: landed or still spooled."""
        return self.landed_events + self.pending_events

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "LandedReport":
        return cls(
            collector_id=document["collectorId"],
            received_date=date.fromisoformat(document["receivedDate"]),
            watermark=_moment(document["watermark"]),
            landed_events=document["landed"]["events"],
            landed_quarantined=document["landed"]["quarantined"],
            pending_events=document["pending"]["events"],
            pending_quarantined=document["pending"]["quarantined"],
            objects=tuple(_landed_object(item) for item in document["objects"]),
        )


def _landed_object(item: dict[str, Any]) -> LandedObjectReport:
    return LandedObjectReport(
        key=item["key"],
        area=item["area"],
        received_date=date.fromisoformat(item["received_date"]),
        hour=item["hour"],
        events=item["events"],
        bytes=item["bytes"],
    )


class CollectorAdminError(RuntimeError):
    """The collector refused or failed an admin request; the message says what it answered."""


class CollectorAdminClient:
    def __init__(self, url: str, admin_token: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=timeout
        )

    def _call(self, method: str, path: str, *, answers: tuple[int, ...] = (200,), **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CollectorAdminError(f"cannot reach the collector at {self.url}: {exc}") from exc
        if response.status_code not in answers:
            raise CollectorAdminError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def flush(self) -> FlushReport:
        return FlushReport.from_json(self._call("POST", "/admin/flush"))

    def landed(self, received_date: date) -> LandedReport:
        return LandedReport.from_json(
            self._call("GET", "/admin/landed", params={"received_date": received_date.isoformat()})
        )

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/admin/stats")

    def health(self) -> dict[str, Any]:
        """The collector's health report; `status` says ok, degraded or unavailable (answered with 503)."""
        return self._call("GET", "/health", answers=(200, 503))

    def set_clock(self, moment: datetime) -> None:
        """Move a simulated clock (collectors started with --simulated-clock only)."""
        self._call("POST", "/admin/clock", json={"now": format_timestamp(moment)})

    def close(self) -> None:
        self._http.close()
