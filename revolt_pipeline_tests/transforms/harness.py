"""Landed records written by hand, landed in a local store, and built through every layer without Dagster.

The layers are built by the layer library's `DayBuilder`, in the cascade's order: raw per received
day, then cleaning, sessions and aggregates over the event days those touch.
"""

import gzip
import tempfile
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.people import PeopleDay
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline.transforms.rules import PipelineRules

DEFAULT_RULES = PipelineRules()


def at(text: str) -> datetime:
    """`2026-11-20 23:50` (UTC) to a datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def landed(
    message_id: str,
    when: datetime,
    *,
    kind: str = "track",
    user_id: str | None = "u1",
    anonymous_id: str | None = None,
    event: str | None = "Timer Started",
    received: datetime | None = None,
    platform: str = "web",
    app_version: str = "1.0",
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    previous_id: str | None = None,
    batch_context: dict[str, Any] | None = None,
    collector: str = "c1",
    context: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """A landed record as the collector writes it, with the device clock right (no skew).

    `context` is laid over the message's default context (app version, OS name); `client_ip` is the address
    the collector received it from."""
    received = received or when
    message: dict[str, Any] = {
        "type": kind,
        "messageId": message_id,
        "originalTimestamp": when.isoformat().replace("+00:00", "Z"),
        "context": {"app": {"version": app_version}, "os": {"name": "iOS"}, **(context or {})},
    }
    for key, value in (
        ("userId", user_id),
        ("anonymousId", anonymous_id),
        ("properties", properties),
        ("traits", traits),
        ("previousId", previous_id),
    ):
        if value is not None:
            message[key] = value
    if kind == "track":
        message["event"] = event
    elif kind in ("page", "screen"):
        message["name"] = event
    return {
        "messageId": message_id,
        "type": kind,
        "receivedAt": epoch_ms(received),
        "sentAt": epoch_ms(received),
        "originalTimestamp": epoch_ms(when),
        "timestamp": epoch_ms(when),
        "clockSkewMs": 0,
        "source": platform,
        "platform": platform,
        "collector": collector,
        "messageIdGenerated": False,
        "batchContext": batch_context,
        "clientIp": client_ip,
        "message": message,
    }


@dataclass
class Lake:
    """What every layer wrote, as local Parquet files by day, and a DuckDB connection to query them."""

    connection: duckdb.DuckDBPyConnection
    folder: Path
    raw: dict[date, str] = field(default_factory=dict)
    events: dict[date, str] = field(default_factory=dict)
    quarantine: dict[date, str] = field(default_factory=dict)
    assigned: dict[date, int] = field(default_factory=dict)
    sessions: dict[date, str] = field(default_factory=dict)
    sessionized: dict[date, str] = field(default_factory=dict)
    person_days: dict[date, str] = field(default_factory=dict)
    people: dict[date, str] = field(default_factory=dict)
    actives: dict[str, dict[date, str]] = field(default_factory=dict)  # active-users table -> day -> file
    builder: DayBuilder | None = None

    def rows(self, path: str, where: str = "true", order: str = "1") -> list[dict[str, Any]]:
        cursor = self.connection.execute(
            f"SELECT * FROM read_parquet({sql_string(path)}) WHERE {where} ORDER BY {order}"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def all_rows(self, files: dict[date, str], order: str = "1") -> list[dict[str, Any]]:
        return [row for day in sorted(files) for row in self.rows(files[day], order=order)]

    def record_people(self, built: list[PeopleDay]) -> None:
        """Remember the files of people days built (again)."""
        for day in built:
            self.person_days[day.day], self.people[day.day] = day.person_days_path, day.people_path
            for table, path in day.actives.items():
                self.actives.setdefault(table, {})[day.day] = path


def land_by_hour(store: ObjectStore, records: Iterable[dict[str, Any]]) -> list[datetime]:
    """Land `records` as the collector would: one gzipped JSON Lines object per hour they were received in; the
    hours, in order."""
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for record in records:
        received = datetime.fromtimestamp(record["receivedAt"] / 1000, UTC)
        by_hour.setdefault(received.replace(minute=0, second=0, microsecond=0), []).append(record)
    for hour, hour_records in sorted(by_hour.items()):
        lines = b"".join(orjson.dumps(record) + b"\n" for record in hour_records)
        store.put(landed_object_key(LANDING, hour, "c1", "000001"), gzip.compress(lines))
    return sorted(by_hour)


def run_pipeline(
    connection: duckdb.DuckDBPyConnection,
    folder: Path,
    records: Iterable[dict[str, Any]],
    rules: PipelineRules = DEFAULT_RULES,
) -> Lake:
    """Land `records` by the hour they were received in a new store under `folder`, and build every layer."""
    run = Path(tempfile.mkdtemp(prefix="layers-", dir=folder))
    store = ObjectStore((run / "store").as_uri())
    hours = land_by_hour(store, records)
    (run / "work").mkdir()
    builder = DayBuilder(store, rules, run / "work", connect=lambda: nullcontext(connection))
    built = builder.every_layer(sorted({hour.date() for hour in hours}))
    lake = Lake(connection, run)
    lake.raw = {day.day: day.raw_path for day in built.raw}
    for day in built.cleaned:
        lake.events[day.day], lake.quarantine[day.day] = day.events_path, day.quarantine_path
        lake.assigned[day.day] = day.assigned_rows
    for day in built.sessions:
        lake.sessions[day.day], lake.sessionized[day.day] = day.sessions_path, day.events_path
    lake.builder = builder
    lake.record_people(built.people)
    return lake


__all__ = ["DEFAULT_RULES", "Lake", "at", "duckdb_connection", "landed", "run_pipeline"]
