"""Landed records written by hand, and the transforms run over them in order, without Dagster.

The same order as the assets: raw per received day, cleaning per event day, sessions per day.
"""

import gzip
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.transforms.cleaning import clean_events, raw_window
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline.transforms.identities import identity_links_query
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline.transforms.sessions import (
    session_window,
    sessionize_query,
    sessionized_events_query,
    sessions_query,
)

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
) -> dict[str, Any]:
    """A landed record as the collector writes it, with the device clock right (no skew)."""
    received = received or when
    message: dict[str, Any] = {
        "type": kind,
        "messageId": message_id,
        "originalTimestamp": when.isoformat().replace("+00:00", "Z"),
        "context": {"app": {"version": app_version}, "os": {"name": "iOS"}},
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
        "message": message,
    }


@dataclass
class Lake:
    """Outputs of the transforms, as local Parquet files, and a DuckDB connection to query them."""

    connection: duckdb.DuckDBPyConnection
    folder: Path
    raw: dict[date, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    events: dict[date, str] = field(default_factory=dict)
    quarantine: dict[date, str] = field(default_factory=dict)
    assigned: dict[date, int] = field(default_factory=dict)
    sessions: dict[date, str] = field(default_factory=dict)
    sessionized: dict[date, str] = field(default_factory=dict)

    def rows(self, path: str, where: str = "true", order: str = "1") -> list[dict[str, Any]]:
        cursor = self.connection.execute(
            f"SELECT * FROM read_parquet({sql_string(path)}) WHERE {where} ORDER BY {order}"
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def all_rows(self, files: dict[date, str], order: str = "1") -> list[dict[str, Any]]:
        return [row for day in sorted(files) for row in self.rows(files[day], order=order)]


def run_pipeline(
    connection: duckdb.DuckDBPyConnection,
    folder: Path,
    records: Iterable[dict[str, Any]],
    rules: PipelineRules = DEFAULT_RULES,
) -> Lake:
    lake = Lake(connection, folder)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for record in records:
        received = datetime.fromtimestamp(record["receivedAt"] / 1000, UTC).date()
        by_day.setdefault(received, []).append(record)
    for day, day_records in sorted(by_day.items()):
        landed_path = folder / f"landed-{day}.jsonl.gz"
        landed_path.write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in day_records)))
        lake.raw[day] = str(folder / f"raw-{day}.parquet")
        consolidate_landed(connection, [str(landed_path)], lake.raw[day])
        links = str(folder / f"links-{day}.parquet")
        connection.execute(f"COPY ({identity_links_query(lake.raw[day])}) TO {sql_string(links)} (FORMAT parquet)")
        lake.links.append(links)
    first, last = min(by_day) - timedelta(days=rules.lateness_days + 1), max(by_day) + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    empty = str(folder / "empty.parquet")
    consolidate_landed(connection, [], empty)
    for day in days:
        window = {d: lake.raw[d] for d in raw_window(day, rules) if d in lake.raw} or {day: empty}
        result = clean_events(connection, event_date=day, raw_files=window, link_files=lake.links, rules=rules)
        lake.events[day] = str(folder / f"events-{day}.parquet")
        lake.quarantine[day] = str(folder / f"quarantine-{day}.parquet")
        lake.assigned[day] = result.assigned_rows
        connection.execute(f"COPY ({result.events_query}) TO {sql_string(lake.events[day])} (FORMAT parquet)")
        connection.execute(f"COPY ({result.quarantine_query}) TO {sql_string(lake.quarantine[day])} (FORMAT parquet)")
    for day in days:
        files = {d: lake.events[d] for d in session_window(day) if d in lake.events}
        connection.execute(f"CREATE OR REPLACE TEMP TABLE sessionized AS {sessionize_query(files, rules)}")
        lake.sessions[day] = str(folder / f"sessions-{day}.parquet")
        lake.sessionized[day] = str(folder / f"sessionized-{day}.parquet")
        connection.execute(
            f"COPY ({sessions_query('sessionized', day)}) TO {sql_string(lake.sessions[day])} (FORMAT parquet)"
        )
        connection.execute(
            f"COPY ({sessionized_events_query('sessionized', lake.events[day], day)}) "
            f"TO {sql_string(lake.sessionized[day])} (FORMAT parquet)"
        )
    return lake


__all__ = ["DEFAULT_RULES", "Lake", "at", "duckdb_connection", "landed", "run_pipeline"]
