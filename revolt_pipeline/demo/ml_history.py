"""The demo's plan written straight into the lake's layers the models read, then built through the people layer: the
long history of the models' tests and benchmark, in seconds rather than the minutes a run of every layer through
Dagster takes (`revolt demo --ml` sends the same traffic through the real pipeline).

Each delivered, on-time message becomes a sessionized event of the day it happened, with the `person_id` cleaning
first gives it (its user id, else its anonymous id), and each message carrying both ids an identity link of its day,
as the raw layer keeps them: the people layer and the models re-stitch through those links, so the people they
report are the plan's `person_key`s (which the tests compare with the ground truth). Each planned session is a
session of the day it starts, never split at midnight. What cleaning would add besides (devices' clock skew
corrected, duplicates dropped, late events quarantined) is what the plan already is. Every day from the first event
through the window's last day and the last event is built, as the demo's runs build them.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from revolt_pipeline.demo.generator import PlannedMessage, Traffic
from revolt_pipeline.demo.population import PLATFORMS, REGION_COUNTRIES
from revolt_pipeline.layers.commits import RAW_EVENTS, SESSIONIZED, committing
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage.layout import identity_links_key, sessionized_events_key, sessions_key

_TIME = pa.timestamp("us", tz="UTC")
_EVENTS = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event_name", pa.string()),
        ("person_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", _TIME),
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
        ("session_start", _TIME),
        ("session_end", _TIME),
        ("duration_seconds", pa.float64()),
        ("events", pa.int64()),
    ]
)
_LINKS = pa.schema(
    [("from_id", pa.string()), ("to_user_id", pa.string()), ("linked_at", _TIME), ("message_id", pa.string())]
)


def delivered(traffic: Traffic) -> list[PlannedMessage]:
    """The messages a correct pipeline keeps: sent once (resends are duplicates) and within the lateness window."""
    return [message for message in traffic.messages if not message.resend and not message.too_late]


def last_day(traffic: Traffic) -> date:
    """The traffic's last day: the models as of its end are what `revolt demo --ml` trains."""
    return traffic.start + timedelta(days=traffic.days - 1)


def _json(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


class _DayColumns:
    """One day's sessionized events, column by column (a row dict per event costs more than the people layer)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in _EVENTS.names}

    def add(self, values: tuple[Any, ...]) -> None:
        for column, value in zip(self.columns.values(), values, strict=True):
            column.append(value)

    def table(self) -> pa.Table:
        table = pa.Table.from_pydict(self.columns, schema=_EVENTS)
        return table.sort_by([("event_time", "ascending"), ("message_id", "ascending")])


@dataclass
class _Session:
    person_id: str  # of its first event, as cleaning gives it; re-stitched by the people layer like the events
    start: datetime
    end: datetime
    events: int = 1


def write_history(traffic: Traffic, builder: DayBuilder) -> list[date]:
    """Commit the plan's sessionized events, sessions and identity links day by day, then build the people layer of
    every day in order (`builder.people_days`); returns the days of the traffic's window, in order. The days its
    events spill into are built too (time zones put some on the day before its first and after its last)."""
    events: dict[date, _DayColumns] = defaultdict(_DayColumns)
    links: dict[date, dict[tuple[str, str], tuple[datetime, str]]] = defaultdict(dict)
    sessions: dict[int, _Session] = {}
    devices = {device.index: (device, person.region) for person in traffic.people for device in person.devices}
    for message in delivered(traffic):
        device, region = devices[message.device]
        moment = message.event_time.astimezone(UTC)
        day = moment.date()
        person_id = message.user_id or message.anonymous_id
        events[day].add(
            (
                message.message_id,
                message.kind,
                message.name,
                person_id,
                message.user_id,
                message.anonymous_id,
                moment,
                device.platform,
                device.source,
                message.app_version,
                device.os_name,
                device.os_version,
                region[2],
                device.platform,
                REGION_COUNTRIES[region[0]][0],
                "timezone",
                PLATFORMS[device.platform][1],
                "demo",
                _json(message.traits),
                _json(message.properties),
                f"session-{message.session}",
            )
        )
        if message.user_id and message.anonymous_id and message.user_id != message.anonymous_id:
            # One link per pair and day, its earliest message: the raw layer's `identity_links` of the day.
            pair = (message.anonymous_id, message.user_id)
            earliest = links[day].get(pair)
            if earliest is None or (moment, message.message_id) < earliest:
                links[day][pair] = (moment, message.message_id)
        session = sessions.get(message.session)
        if session is None:
            sessions[message.session] = _Session(person_id, moment, moment)
        else:
            if moment < session.start:
                session.person_id, session.start = person_id, moment
            session.end = max(session.end, moment)
            session.events += 1
    starts: dict[date, list[tuple[int, _Session]]] = defaultdict(list)
    for number, session in sorted(sessions.items()):
        starts[session.start.date()].append((number, session))
    first = min([traffic.start, *events])
    last = max([last_day(traffic), *events])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    folder = builder.workdir
    for day in days:
        paths = {name: str(folder / f"history-{name}-{day}.parquet") for name in ("events", "sessions", "links")}
        pq.write_table(events[day].table() if day in events else _EVENTS.empty_table(), paths["events"])
        pq.write_table(_sessions_table(starts.get(day, [])), paths["sessions"])
        pq.write_table(_links_table(links.get(day, {})), paths["links"])
        with committing(builder.store, SESSIONIZED, day) as commit:
            commit.put_file(sessionized_events_key(day), paths["events"])
            commit.put_file(sessions_key(day), paths["sessions"])
        with committing(builder.store, RAW_EVENTS, day) as commit:
            commit.put_file(identity_links_key(day), paths["links"])
    builder.people_days(days)
    return [day for day in days if traffic.start <= day <= last_day(traffic)]


def _sessions_table(started: list[tuple[int, _Session]]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "session_id": [f"session-{number}" for number, _ in started],
            "person_id": [session.person_id for _, session in started],
            "session_start": [session.start for _, session in started],
            "session_end": [session.end for _, session in started],
            "duration_seconds": [(session.end - session.start).total_seconds() for _, session in started],
            "events": [session.events for _, session in started],
        },
        schema=_SESSIONS,
    )


def _links_table(links: dict[tuple[str, str], tuple[datetime, str]]) -> pa.Table:
    ordered = sorted(links.items())
    return pa.Table.from_pydict(
        {
            "from_id": [from_id for (from_id, _), _ in ordered],
            "to_user_id": [to_user_id for (_, to_user_id), _ in ordered],
            "linked_at": [moment for _, (moment, _) in ordered],
            "message_id": [message_id for _, (_, message_id) in ordered],
        },
        schema=_LINKS,
    )
