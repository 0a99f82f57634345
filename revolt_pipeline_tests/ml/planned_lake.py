"""A lake of the demo's planned traffic, written straight into the layers the models read (no collector, no cleaning).

The models read committed sessionized events and identity links; writing them from the plan takes a second
where sending the traffic through the collector and every layer takes minutes, so the tests can train on several
seeds' weeks of traffic. Each message gets the `person_id` cleaning gives it when it is built (its user id, else
its anonymous id) and each identify its identity link, so the models' re-stitching is exercised: the people they
report are the plan's `person_key`s.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from revolt_pipeline.demo.generator import PlannedMessage, Traffic, plan_traffic
from revolt_pipeline.demo.population import PLATFORMS, REGION_COUNTRIES, Person
from revolt_pipeline.layers.commits import RAW_EVENTS, SESSIONIZED, committing
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import identity_links_key, sessionized_events_key, sessions_key
from revolt_pipeline.transforms.rules import PipelineRules

START = date(2026, 9, 7)  # a Monday
EVENTS = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event_name", pa.string()),
        ("person_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", pa.timestamp("ms", tz="UTC")),
        ("platform", pa.string()),
        ("app_version", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("device_type", pa.string()),
        ("locale", pa.string()),
        ("country", pa.string()),
        ("country_method", pa.string()),
        ("source", pa.string()),
        ("library_name", pa.string()),
        ("library_version", pa.string()),
        ("properties", pa.string()),
        ("traits", pa.string()),
        ("session_id", pa.string()),
    ]
)
SESSIONS = pa.schema(
    [
        ("session_id", pa.string()),
        ("person_id", pa.string()),
        ("session_start", pa.timestamp("ms", tz="UTC")),
        ("session_end", pa.timestamp("ms", tz="UTC")),
        ("duration_seconds", pa.float64()),
        ("events", pa.int64()),
    ]
)
LINKS = pa.schema(
    [
        ("from_id", pa.string()),
        ("to_user_id", pa.string()),
        ("linked_at", pa.timestamp("ms", tz="UTC")),
        ("message_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class PlannedLake:
    store: ObjectStore
    traffic: Traffic
    cutoff: date  # the day after the traffic's last

    @property
    def as_of(self) -> date:
        """The traffic's last day: the models as of its end have the cutoff `cutoff`."""
        return self.cutoff - timedelta(days=1)

    def workdir(self, name: str) -> Path:
        folder = Path(self.store.path(f"_work/{name}"))
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _event_row(traffic: Traffic, owners: dict[int, Person], message: PlannedMessage) -> dict:
    device = traffic.devices[message.device]
    region = owners[message.device].region
    return {
        "message_id": message.message_id,
        "type": message.kind,
        "event_name": message.name,
        "person_id": message.user_id or message.anonymous_id,
        "user_id": message.user_id,
        "anonymous_id": message.anonymous_id,
        "event_time": message.event_time,
        "platform": device.platform,
        "app_version": message.app_version,
        "os_name": device.os_name,
        "os_version": device.os_version,
        "device_type": device.platform,
        "locale": region[2],
        "country": REGION_COUNTRIES[region[0]][0],
        "country_method": "timezone",
        "source": device.source,
        "library_name": PLATFORMS[device.platform][1],
        "library_version": "demo",
        "properties": json.dumps(message.properties) if message.properties is not None else None,
        "traits": json.dumps(message.traits) if message.traits is not None else None,
        "session_id": f"session-{message.session}",
    }


def _sessions(rows: list[dict]) -> dict[date, list[dict]]:
    """The sessions of the events, by the day they started (as the pipeline's: one crossing midnight is one)."""
    by_session: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_session[row["session_id"]].append(row)
    sessions: dict[date, list[dict]] = defaultdict(list)
    for session, events in sorted(by_session.items()):
        start, end = min(e["event_time"] for e in events), max(e["event_time"] for e in events)
        sessions[start.date()].append(
            {
                "session_id": session,
                "person_id": events[0]["person_id"],
                "session_start": start,
                "session_end": end,
                "duration_seconds": (end - start).total_seconds(),
                "events": len(events),
            }
        )
    return sessions


def write_planned_lake(folder: Path, *, seed: int, users: int, days: int) -> PlannedLake:
    """The plan of `seed` as committed sessionized days and identity links in a local store under `folder`."""
    traffic = plan_traffic(seed=seed, users=users, days=days, start=START)
    store = ObjectStore((folder / "store").as_uri())
    inputs = folder / "inputs"
    inputs.mkdir(parents=True)
    owners = {device.index: person for person in traffic.people for device in person.devices}
    by_day: dict[date, list[dict]] = defaultdict(list)
    links: dict[date, list[dict]] = defaultdict(list)
    for message in traffic.messages:
        if message.resend or message.too_late:
            continue
        day = message.event_time.date()
        by_day[day].append(_event_row(traffic, owners, message))
        if message.kind == "identify" and message.anonymous_id and message.user_id:
            links[day].append(
                {
                    "from_id": message.anonymous_id,
                    "to_user_id": message.user_id,
                    "linked_at": message.event_time,
                    "message_id": message.message_id,
                }
            )
    sessions_by_day = _sessions([row for rows in by_day.values() for row in rows])
    for day, rows in sorted(by_day.items()):
        events = pa.Table.from_pylist(sorted(rows, key=lambda r: (r["event_time"], r["message_id"])), schema=EVENTS)
        sessions = pa.Table.from_pylist(sessions_by_day.get(day, []), schema=SESSIONS)
        paths = {name: str(inputs / f"{name}-{day}.parquet") for name in ("events", "sessions", "links")}
        pq.write_table(events, paths["events"])
        pq.write_table(sessions, paths["sessions"])
        pq.write_table(pa.Table.from_pylist(links.get(day, []), schema=LINKS), paths["links"])
        with committing(store, SESSIONIZED, day) as commit:
            commit.put_file(sessionized_events_key(day), paths["events"])
            commit.put_file(sessions_key(day), paths["sessions"])
        with committing(store, RAW_EVENTS, day) as commit:
            commit.put_file(identity_links_key(day), paths["links"])
    lake = PlannedLake(store, traffic, START + timedelta(days=days))
    # The people layer of every day (person days and snapshots), as people_job builds it: the features read it.
    DayBuilder(store, PipelineRules(), lake.workdir("people")).people_days(sorted(by_day))
    return lake
