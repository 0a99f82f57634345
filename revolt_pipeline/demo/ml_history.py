"""The demo's plan written straight into the lake's sessionized layer, then built through the people layer: the long
history the models need, in seconds rather than the minutes a run of every layer through Dagster takes.

For tests and the benchmark of the models (`revolt demo --ml` sends the traffic through the real pipeline). Each
delivered, on-time message becomes a sessionized event of its day, already stitched (its person is the plan's),
and each planned session a session of the day it starts; no identity links are needed then. What the cleaning
layer would add (devices' clock skew corrected, duplicates dropped, late events quarantined) is what the plan
already is, so the person days built from it are the ground truth's.
"""

import json
from collections import defaultdict
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from revolt_pipeline.demo.generator import PlannedMessage, Traffic
from revolt_pipeline.demo.population import PLATFORMS
from revolt_pipeline.layers.commits import SESSIONIZED, committing
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage.layout import sessionized_events_key, sessions_key

_EVENTS = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event_name", pa.string()),
        ("person_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("platform", pa.string()),
        ("source", pa.string()),
        ("app_version", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("locale", pa.string()),
        ("device_type", pa.string()),
        ("country", pa.string()),
        ("country_method", pa.string()),
        ("library_name", pa.string()),
        ("library_version", pa.string()),
        ("traits", pa.string()),
        ("properties", pa.string()),  # pages are named by their path when they have no name (paths, items)
        ("session_id", pa.string()),
    ]
)
_SESSIONS = pa.schema(
    [
        ("session_id", pa.string()),
        ("person_id", pa.string()),
        ("session_start", pa.timestamp("us", tz="UTC")),
        ("duration_seconds", pa.float64()),
        ("events", pa.int64()),
    ]
)


def delivered(traffic: Traffic) -> list[PlannedMessage]:
    """The messages a correct pipeline keeps: sent once (resends are duplicates) and within the lateness window."""
    return [message for message in traffic.messages if not message.resend and not message.too_late]


def _event_row(traffic: Traffic, message: PlannedMessage, locales: dict[int, str]) -> dict[str, Any]:
    device = traffic.devices[message.device]
    return {
        "message_id": message.message_id,
        "type": message.kind,
        "event_name": message.name,
        "person_id": message.person_key,
        "user_id": message.user_id,
        "anonymous_id": message.anonymous_id,
        "event_time": message.event_time,
        "platform": device.platform,
        "source": device.source,
        "app_version": message.app_version,
        "os_name": device.os_name,
        "os_version": device.os_version,
        "locale": locales[message.device],
        "device_type": device.platform,
        "country": None,
        "country_method": None,
        "library_name": PLATFORMS[device.platform][1],
        "library_version": "demo",
        "traits": json.dumps(message.traits) if message.traits is not None else None,
        "properties": json.dumps(message.properties) if message.properties is not None else None,
        "session_id": f"session-{message.session}",
    }


def write_history(traffic: Traffic, builder: DayBuilder) -> list[date]:
    """Commit the plan's sessionized events and sessions day by day, then build the people layer of every day of
    the window in order; returns the days."""
    events: dict[date, list[dict[str, Any]]] = defaultdict(list)
    sessions: dict[str, list[PlannedMessage]] = defaultdict(list)
    locales = {device.index: person.region[2] for person in traffic.people for device in person.devices}
    for message in delivered(traffic):
        events[message.event_time.astimezone(UTC).date()].append(_event_row(traffic, message, locales))
        sessions[f"session-{message.session}"].append(message)
    starts: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for session_id, messages in sessions.items():
        first = min(message.event_time for message in messages)
        last = max(message.event_time for message in messages)
        starts[first.astimezone(UTC).date()].append(
            {
                "session_id": session_id,
                "person_id": messages[0].person_key,
                "session_start": first,
                "duration_seconds": (last - first).total_seconds(),
                "events": len(messages),
            }
        )
    days = [traffic.start + timedelta(days=n) for n in range(traffic.days)]
    folder = Path(builder.workdir)
    for day in days:
        events_path, sessions_path = (
            folder / f"history-events-{day}.parquet",
            folder / f"history-sessions-{day}.parquet",
        )
        pq.write_table(pa.Table.from_pylist(events.get(day, []), schema=_EVENTS), events_path)
        pq.write_table(pa.Table.from_pylist(starts.get(day, []), schema=_SESSIONS), sessions_path)
        with committing(builder.store, SESSIONIZED, day) as commit:
            commit.put_file(sessionized_events_key(day), events_path)
            commit.put_file(sessions_key(day), sessions_path)
    builder.people_days(days)
    return days
