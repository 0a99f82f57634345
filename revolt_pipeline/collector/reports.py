"""Typed forms of what the collector's admin API reports, shared by its HTTP client and in-process use."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from revolt_pipeline.contract import parse_timestamp


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
