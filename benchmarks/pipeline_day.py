"""One received day of events through the pipeline's stages, each as a ratio to the floor of parsing it.

Generates a synthetic landed day (gzip JSON Lines in exactly the collector's landed-record format,
checked against `landed_record` itself), then runs, each in its own child process so that peak
memory is per stage:

- floor: `pyarrow.json.read_json` of every landed file of the day;
- raw: the watermark check and `revolt_pipeline.layers.raw.build_raw_day` (as `raw_events`);
- clean: `clean_days`, `sessionize_day` and `aggregate_day` of `revolt_pipeline.layers.cleaned` for the day
  (as `cleaned_events`, `sessionized`, `daily_aggregates`);
- report: `load_aggregate` of the three report tables and `load_event_catalog` into SQLite (as the report
  assets), and into PostgreSQL too when a throwaway cluster can be started.

The stages call the layer library the assets call, on a local `ObjectStore`, so they time the production
code; each DuckDB statement is timed too, through a pass-through connection.

Prints seconds, events/s, peak RSS and the ratio to the floor for each, and PASS/MISS per bar.

    python -m benchmarks.pipeline_day [--events 1000000 5000000] [--quick] [--keep] [--files-per-hour 4]
"""

import argparse
import contextlib
import gzip
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

DAY = date(2026, 11, 20)
COLLECTOR = "bench"
PEOPLE = 50_000
SEED = 20261120
DUPLICATE_SHARE = 0.01
FLOOR_RUNS = 3
FLOOR_BUDGET_SECONDS = 60
# The bars of the issue.
CLEAN_BAR = 2.0  # cleaning + sessionizing from raw Parquet (the aggregates shown beside), times the floor
DAY_BAR = 4.0  # landed files to report tables, times the parse floor
MEMORY_BAR_MB = 4096  # peak RSS of any stage, at 5 M events
MEMORY_BAR_EVENTS = 5_000_000

MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_START_MS = (datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


# --------------------------------------------------------------------------------------------------
# The synthetic population: sources, devices, people, event catalog. Small, built in Python.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    platform: str
    share: float
    library: tuple[str, str]
    os_name: str
    os_versions: tuple[str, ...]
    devices: tuple[tuple[str, str], ...]  # (manufacturer, model); empty for web
    device_type: str | None
    app: str
    versions: tuple[str, ...]  # newest first; older ones are rarer
    screen_type: str  # "screen" for apps, "page" for the web


SOURCES = (
    Source(
        "ios-app", "ios", 0.36, ("analytics-ios", "4.1.8"), "iOS", ("18.1", "18.0", "17.6", "17.5"),
        (("Apple", "iPhone16,2"), ("Apple", "iPhone15,3"), ("Apple", "iPhone14,5"), ("Apple", "iPad13,18")),
        "ios", "tracker", ("4.3.0", "4.2.1", "4.2.0", "4.1.0", "3.9.2"), "screen",
    ),
    Source(
        "android-app", "android", 0.30, ("analytics-android", "4.11.3"), "Android", ("15", "14", "13", "12"),
        (("samsung", "SM-S921B"), ("Google", "Pixel 8"), ("Xiaomi", "23049PCD8G"), ("samsung", "SM-A546B")),
        "android", "tracker", ("4.3.0", "4.2.2", "4.2.0", "4.0.5"), "screen",
    ),
    Source(
        "web", "web", 0.26, ("analytics.js", "5.2.0"), "Mac OS", ("15.1", "14.7", "10.0"),
        (), None, "tracker-web", ("2026.11.3", "2026.11.2", "2026.10.7"), "page",
    ),
    Source(
        "desktop", "desktop", 0.08, ("revolt-python", "0.1.0"), "Windows", ("11", "10"),
        (("Dell", "XPS 13"), ("Lenovo", "ThinkPad X1"), ("Apple", "MacBookPro18,1")),
        "desktop", "tracker-desktop", ("3.2.0", "3.1.4", "3.0.0"), "screen",
    ),
)  # fmt: skip
LOCALES = (  # (locale, timezone, UTC offset in hours, weight)
    ("en-US", "America/New_York", -5, 0.22),
    ("en-US", "America/Los_Angeles", -8, 0.12),
    ("en-GB", "Europe/London", 0, 0.10),
    ("de-DE", "Europe/Berlin", 1, 0.12),
    ("fr-FR", "Europe/Paris", 1, 0.08),
    ("es-ES", "Europe/Madrid", 1, 0.05),
    ("pt-BR", "America/Sao_Paulo", -3, 0.09),
    ("ja-JP", "Asia/Tokyo", 9, 0.07),
    ("en-IN", "Asia/Kolkata", 5.5, 0.10),
    ("en-AU", "Australia/Sydney", 11, 0.05),
)
# Sessions by local hour of the day: quiet at night, busy in working hours and the evening.
LOCAL_HOUR_PROFILE = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 5, 5.5, 5.5, 5, 5.2, 5.5, 5.3, 5, 4.6, 4.2, 4.4, 4.6, 4, 3, 1.8]
)

PROJECTS = ("apollo", "gemini", "mercury", "artemis", "voyager", "pioneer", "viking", "juno", "cassini", "hubble")
TRACK_EVENTS: dict[str, tuple[float, Callable[[np.random.Generator], dict[str, Any]]]] = {
    # name: (weight, properties of one occurrence); a key has one JSON type everywhere.
    "Timer Started": (0.22, lambda r: {"project": r.choice(PROJECTS), "billable": bool(r.random() < 0.7)}),
    "Timer Stopped": (
        0.2,
        lambda r: {"project": r.choice(PROJECTS), "duration_s": int(r.integers(30, 14_400)), "billable": True},
    ),
    "Task Completed": (0.12, lambda r: {"project": r.choice(PROJECTS), "task_count": int(r.integers(1, 40))}),
    "Search Performed": (0.1, lambda r: {"query_length": int(r.integers(2, 30)), "results": int(r.integers(0, 80))}),
    "Project Created": (0.04, lambda r: {"project": r.choice(PROJECTS), "template": r.choice(["blank", "agency"])}),
    "Report Exported": (0.05, lambda r: {"format": r.choice(["csv", "pdf", "xlsx"]), "rows": int(r.integers(1, 5000))}),
    "Invoice Sent": (
        0.03,
        lambda r: {"amount": round(float(r.uniform(20, 4000)), 2) + 0.001, "currency": r.choice(["USD", "EUR"])},
    ),
    "Settings Changed": (0.04, lambda r: {"setting": r.choice(["theme", "week_start", "rounding", "reminders"])}),
    "Notification Opened": (
        0.06,
        lambda r: {"campaign": f"c-{int(r.integers(1, 40))}", "channel": r.choice(["push", "email"])},
    ),
    "Tag Added": (0.08, lambda r: {"tag": r.choice(["meeting", "design", "review", "support", "travel"])}),
    "Subscription Upgraded": (0.01, lambda r: {"plan": r.choice(["pro", "team"]), "price": 12.5}),
    "Filter Applied": (0.05, lambda r: {"filter": r.choice(["week", "month", "client"]), "results": 12}),
}
LIFECYCLE_EVENTS = {
    "Application Opened": lambda r: {"from_background": bool(r.random() < 0.6), "build": int(r.integers(400, 440))},
    "Application Backgrounded": lambda r: {"foreground_s": int(r.integers(5, 3600))},
}
SCREENS = ("Dashboard", "Timer", "Projects", "Project Detail", "Reports", "Settings", "Team", "Invoices", "Calendar")
SCREEN_WEIGHTS = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.05, 0.05, 0.04, 0.04])
VARIANTS = 64  # serialized property objects per event name, picked at random per event


def _screen_properties(rng: np.random.Generator, screen: str, page: bool) -> dict[str, Any]:
    if page:
        path = "/" + screen.lower().replace(" ", "-")
        return {"path": path, "title": f"{screen} | Tracker"}
    return {"tab": rng.choice(["day", "week", "month"]), "items": int(rng.integers(0, 60))}


@dataclass
class Catalog:
    """Every name and pre-serialized property object an event can take, as Arrow arrays to `take` from."""

    names: list[str]  # "" for identify
    name_keys: list[str]  # JSON key of the name: "event", "name" or ""
    properties: pa.StringArray  # VARIANTS per name, `,"properties":{...}`
    track_ids: np.ndarray
    track_weights: np.ndarray
    opened: int
    backgrounded: int
    screen_ids: np.ndarray  # by screen, for apps
    page_ids: np.ndarray  # by screen, for the web
    identify: int


def build_catalog(rng: np.random.Generator) -> Catalog:
    names, keys, fragments = [], [], []

    def add(name: str, key: str, make: Callable[[], dict[str, Any]]) -> int:
        names.append(name)
        keys.append(key)
        for _ in range(VARIANTS):
            fragments.append(',"properties":' + orjson.dumps(make()).decode())
        return len(names) - 1

    track_ids = [add(name, "event", lambda f=make: f(rng)) for name, (_, make) in TRACK_EVENTS.items()]
    opened = add("Application Opened", "event", lambda: LIFECYCLE_EVENTS["Application Opened"](rng))
    backgrounded = add("Application Backgrounded", "event", lambda: LIFECYCLE_EVENTS["Application Backgrounded"](rng))
    screen_ids = [add(s, "name", lambda s=s: _screen_properties(rng, s, page=False)) for s in SCREENS]
    page_ids = [add(s, "name", lambda s=s: _screen_properties(rng, s, page=True)) for s in SCREENS]
    names.append("")
    keys.append("")
    fragments += [""] * VARIANTS  # identify: traits come from the person
    weights = np.array([weight for weight, _ in TRACK_EVENTS.values()])
    return Catalog(
        names=names,
        name_keys=keys,
        properties=pa.array(fragments, pa.string()),
        track_ids=np.array(track_ids),
        track_weights=weights / weights.sum(),
        opened=opened,
        backgrounded=backgrounded,
        screen_ids=np.array(screen_ids),
        page_ids=np.array(page_ids),
        identify=len(names) - 1,
    )


@dataclass
class Devices:
    """One row per device: who uses it, what it sends from, and how its clock is off."""

    person: np.ndarray
    source: np.ndarray
    utc_offset_ms: np.ndarray
    skew_ms: np.ndarray
    flush_phase_ms: np.ndarray
    weight: np.ndarray
    identified: np.ndarray  # the person has a user id
    anonymous_ids: pa.StringArray
    user_fragments: pa.StringArray  # `,"userId":"..."` or "" for people never identified
    traits_fragments: pa.StringArray  # `,"traits":{...}`
    contexts: pa.StringArray  # `,"context":{...}`
    envelope: pa.StringArray  # `,"source":"...","platform":"...","collector":"..."` part of the landed record
    screen_kind: np.ndarray  # 0: screen, 1: page (web)

    def __len__(self) -> int:
        return len(self.person)


def _uuid_strings(rng: np.random.Generator, count: int) -> pa.StringArray:
    """`count` random version-4 UUIDs as strings, built in numpy: no Python loop per id."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2] = hexdigits[raw >> 4]
    digits[:, 1::2] = hexdigits[raw & 0x0F]
    out = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at : at + stop - start] = digits[:, start:stop]
    return _fixed_width_strings(out)


def _fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    count, width = chars.shape
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def _iso_times(ms: np.ndarray) -> pa.StringArray:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` of epoch milliseconds, as SDKs send them; numpy, not strftime (10x faster)."""
    days, rest = np.divmod(ms, MS_PER_DAY)
    unique_days, inverse = np.unique(days, return_inverse=True)
    prefixes = np.frombuffer(
        b"".join((_EPOCH + timedelta(days=int(d))).strftime("%Y-%m-%dT").encode() for d in unique_days),
        dtype=np.uint8,
    ).reshape(-1, 11)
    out = np.empty((len(ms), 24), dtype=np.uint8)
    out[:, :11] = prefixes[inverse.reshape(-1)]
    hours, rest = np.divmod(rest, 3_600_000)
    minutes, rest = np.divmod(rest, 60_000)
    seconds, millis = np.divmod(rest, 1000)
    for column, value in ((11, hours), (14, minutes), (17, seconds)):
        out[:, column] = 48 + value // 10
        out[:, column + 1] = 48 + value % 10
    out[:, 13] = out[:, 16] = ord(":")
    out[:, 19] = ord(".")
    out[:, 20] = 48 + millis // 100
    out[:, 21] = 48 + millis // 10 % 10
    out[:, 22] = 48 + millis % 10
    out[:, 23] = ord("Z")
    return _fixed_width_strings(out)


def build_devices(rng: np.random.Generator, people: int) -> Devices:
    identified_person = rng.random(people) < 0.65
    # 15% of identified people also use a second app: stitching has something to do.
    second = np.flatnonzero(identified_person & (rng.random(people) < 0.15))
    person = np.concatenate([np.arange(people), second])
    count = len(person)
    shares = np.array([s.share for s in SOURCES])
    source = rng.choice(len(SOURCES), size=count, p=shares / shares.sum())
    locale_weights = np.array([w for *_, w in LOCALES])
    person_locale = rng.choice(len(LOCALES), size=people, p=locale_weights / locale_weights.sum())
    locale = person_locale[person]
    offsets = np.array([int(offset * 3_600_000) for _, _, offset, _ in LOCALES])[locale]
    # Most clocks are right; some are minutes or hours off, a few days (a manually set date).
    draw = rng.random(count)
    sign = rng.choice([-1, 1], size=count)
    skew = np.where(draw < 0.03, sign * rng.integers(30_000, 3 * 3_600_000, count), 0)
    skew = np.where(draw > 0.995, sign * rng.integers(MS_PER_DAY, 3 * MS_PER_DAY, count), skew)
    activity = rng.lognormal(0.0, 1.0, people)[person]
    anonymous_ids = _uuid_strings(rng, count).to_pylist()
    device_ids = [f"{value:016x}" for value in rng.integers(0, 2**63, count)]  # Android-ID style
    user_numbers = rng.permutation(10 * people)[:people] + 100_000
    plans = ("free", "pro", "team", "enterprise")

    user_fragments, traits, contexts, envelopes = [], [], [], []
    for n in range(count):
        src = SOURCES[source[n]]
        who = person[n]
        user_id = f"usr_{user_numbers[who]}"
        user_fragments.append(f',"userId":"{user_id}"' if identified_person[who] else "")
        traits.append(
            ',"traits":'
            + orjson.dumps(
                {
                    "email": f"{user_id}@example.com",
                    "plan": plans[who % 4],
                    "company_size": int(1 + who % 250),
                    "created_at": f"2025-{1 + who % 12:02d}-{1 + who % 28:02d}T10:00:00Z",
                }
            ).decode()
        )
        age = min(int(rng.geometric(0.45)) - 1, len(src.versions) - 1)
        context: dict[str, Any] = {"app": {"name": src.app, "version": src.versions[age]}}
        if src.devices:
            manufacturer, model = src.devices[rng.integers(len(src.devices))]
            context["device"] = {"id": device_ids[n], "manufacturer": manufacturer, "model": model}
            context["device"]["type"] = src.device_type
        context["os"] = {"name": src.os_name, "version": src.os_versions[rng.integers(len(src.os_versions))]}
        context["library"] = {"name": src.library[0], "version": src.library[1]}
        context["locale"], context["timezone"] = LOCALES[locale[n]][:2]
        contexts.append(',"context":' + orjson.dumps(context).decode())
        envelopes.append(
            ',"source":' + orjson.dumps(src.name).decode() + ',"platform":' + orjson.dumps(src.platform).decode()
        )
    return Devices(
        person=person,
        source=source,
        utc_offset_ms=offsets,
        skew_ms=skew.astype(np.int64),
        flush_phase_ms=rng.integers(0, 30_000, count),
        weight=activity / activity.sum(),
        identified=identified_person[person],
        anonymous_ids=pa.array(anonymous_ids, pa.string()),
        user_fragments=pa.array(user_fragments, pa.string()),
        traits_fragments=pa.array(traits, pa.string()),
        contexts=pa.array(contexts, pa.string()),
        envelope=pa.array(envelopes, pa.string()),
        screen_kind=np.array([SOURCES[s].screen_type == "page" for s in source], dtype=np.int8),
    )


# --------------------------------------------------------------------------------------------------
# The events of the day, vectorized: sessions, event times, deliveries, duplicates.
# --------------------------------------------------------------------------------------------------


@dataclass
class DayEvents:
    """One row per landed line, sorted by receipt."""

    device: np.ndarray
    name: np.ndarray  # index into Catalog.names
    variant: np.ndarray
    message: np.ndarray  # index into message_ids (a duplicate repeats its original's)
    logged_in: np.ndarray
    event_ms: np.ndarray  # true time of the event
    sent_ms: np.ndarray  # true time the batch was sent
    received_ms: np.ndarray
    message_ids: pa.StringArray
    sessions: int
    duplicates: int


def plan_day(rng: np.random.Generator, devices: Devices, catalog: Catalog, events: int) -> DayEvents:
    duplicates = round(events * DUPLICATE_SHARE)
    unique = events - duplicates
    # Sessions of 1 + geometric events (mean 12), until the day has enough; the last one is cut to fit.
    lengths = rng.geometric(1 / 12, size=unique // 6 + 16)
    ends = np.cumsum(lengths)
    sessions = int(np.searchsorted(ends, unique) + 1)
    lengths = lengths[:sessions]
    lengths[-1] -= ends[sessions - 1] - unique
    session_device = rng.choice(len(devices), size=sessions, p=devices.weight)
    local_hour = rng.choice(24, size=sessions, p=LOCAL_HOUR_PROFILE / LOCAL_HOUR_PROFILE.sum())
    start = DAY_START_MS + local_hour * 3_600_000 + rng.integers(0, 3_600_000, sessions)
    start -= devices.utc_offset_ms[session_device]
    logged_in = devices.identified[session_device] & (rng.random(sessions) < 0.9)
    offline = (devices.screen_kind[session_device] == 0) & (rng.random(sessions) < 0.03)
    # Offline sessions are sent when the device is back online: an hour or so later, some days later.
    offline_delay = np.minimum(rng.lognormal(np.log(3_600_000), 1.2, sessions), 30 * 3_600_000).astype(np.int64)
    very_late = offline & (rng.random(sessions) < 0.04)
    offline_delay = np.where(very_late, rng.integers(int(3.2 * MS_PER_DAY), 6 * MS_PER_DAY, sessions), offline_delay)

    session = np.repeat(np.arange(sessions), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    position = np.arange(unique) - np.repeat(first, lengths)
    # Events minutes apart: mostly under a minute or two, sometimes a longer pause (never 30 minutes).
    gaps = np.where(
        rng.random(unique) < 0.1, rng.integers(120_000, 900_000, unique), rng.exponential(50_000, unique).astype(int)
    )
    gaps = np.minimum(gaps, 20 * 60_000)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    event_ms = start[session] + elapsed - np.repeat(elapsed[first], lengths)
    device = session_device[session]

    # Names: apps open with "Application Opened", the web with a page; identify early in logged-in sessions.
    draw = rng.random(unique)
    page = devices.screen_kind[device] == 1
    screen = rng.choice(len(SCREENS), size=unique, p=SCREEN_WEIGHTS)
    name = rng.choice(catalog.track_ids, size=unique, p=catalog.track_weights)
    name = np.where(draw < 0.3, np.where(page, catalog.page_ids[screen], catalog.screen_ids[screen]), name)
    last = position == np.repeat(lengths, lengths) - 1
    name = np.where(~page & last & (position > 0) & (draw > 0.5), catalog.backgrounded, name)
    name = np.where(position == 0, np.where(page, catalog.page_ids[screen], catalog.opened), name)
    identify = logged_in[session] & (position == 1) & (draw < 0.35)
    name = np.where(identify, catalog.identify, name)

    # Delivery: the web sends at once, apps flush every 30 s (all of it when back online).
    phase = devices.flush_phase_ms[device]
    sent_ms = np.where(page, event_ms + rng.integers(0, 300, unique), (event_ms - phase) // 30_000 * 30_000 + 30_000)
    sent_ms = sent_ms + np.where(~page, phase, 0)
    session_end = np.maximum.reduceat(event_ms, first)
    sent_ms = np.where(offline[session], (session_end + offline_delay)[session], sent_ms)
    # One latency per batch (device and send time), 40 to 440 ms.
    received_ms = sent_ms + 40 + (sent_ms % 1_000_003 * 7_919 + device * 40_503) % 400
    # Everything lands on the received day: shift whole days, keeping each event's delays. What
    # moves back is yesterday's traffic received today (offline sessions, sessions across midnight).
    shift = (received_ms - DAY_START_MS) // MS_PER_DAY * MS_PER_DAY
    event_ms, sent_ms, received_ms = event_ms - shift, sent_ms - shift, received_ms - shift

    # Duplicates: the same message delivered again (an SDK retry), seconds to minutes later.
    again = rng.choice(unique, size=duplicates, replace=False)
    retry_received = np.minimum(
        received_ms[again] + rng.integers(1_000, 900_000, duplicates), DAY_START_MS + MS_PER_DAY - 1
    )
    rows = np.concatenate([np.arange(unique), again])
    received = np.concatenate([received_ms, retry_received])
    order = np.argsort(received, kind="stable")
    rows = rows[order]
    return DayEvents(
        device=device[rows],
        name=name[rows].astype(np.int32),
        variant=rng.integers(0, VARIANTS, events).astype(np.int32),
        message=rows,
        logged_in=logged_in[session][rows],
        event_ms=event_ms[rows],
        sent_ms=sent_ms[rows],
        received_ms=received[order],
        message_ids=_uuid_strings(rng, unique),
        sessions=sessions,
        duplicates=duplicates,
    )


def _number_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def landed_lines(day: DayEvents, devices: Devices, catalog: Catalog, rows: slice) -> pa.StringArray:
    """The landed records of `rows`, each ending in a newline, as `landed_record` writes them."""
    device = day.device[rows]
    skew = devices.skew_ms[device]
    event_ms, sent_ms, received_ms = day.event_ms[rows], day.sent_ms[rows], day.received_ms[rows]
    original_device = event_ms + skew
    sent_device = sent_ms + skew
    name = day.name[rows]
    kinds = np.where(
        name == catalog.identify,
        0,
        np.where(np.isin(name, catalog.screen_ids), 2, np.where(np.isin(name, catalog.page_ids), 3, 1)),
    )
    type_names = pa.array(["identify", "track", "screen", "page"], pa.string())
    types = type_names.take(pa.array(kinds))
    name_fragments = pa.array(
        [
            f',"{key}":' + orjson.dumps(value).decode() if key else ""
            for key, value in zip(catalog.name_keys, catalog.names, strict=True)
        ],
        pa.string(),
    ).take(pa.array(name))
    device_index = pa.array(device)
    message_ids = day.message_ids.take(pa.array(day.message[rows]))
    user = pc.if_else(pa.array(day.logged_in[rows]), devices.user_fragments.take(device_index), "")
    page = devices.screen_kind[device] == 1
    # analytics.js puts sentAt in every message; the app SDKs send it once per batch.
    sent_in_message = pc.if_else(
        pa.array(page), pc.binary_join_element_wise(',"sentAt":"', _iso_times(sent_device), '"', ""), ""
    )
    documents = pc.if_else(
        pa.array(kinds == 0),
        devices.traits_fragments.take(device_index),
        catalog.properties.take(pa.array(name * VARIANTS + day.variant[rows])),
    )
    message = pc.binary_join_element_wise(
        '{"type":"', types, '"', name_fragments, ',"messageId":"', message_ids,
        '","anonymousId":"', devices.anonymous_ids.take(device_index), '"', user,
        ',"originalTimestamp":"', _iso_times(original_device), '"', sent_in_message,
        documents, devices.contexts.take(device_index), "}", "",
    )  # fmt: skip
    return pc.binary_join_element_wise(
        '{"messageId":"', message_ids, '","type":"', types,
        '","sentAt":', _number_strings(sent_device),
        ',"originalTimestamp":', _number_strings(original_device),
        ',"timestamp":', _number_strings(received_ms - (sent_device - original_device)),
        ',"clockSkewMs":', _number_strings(sent_device - received_ms),
        ',"messageIdGenerated":false,"receivedAt":', _number_strings(received_ms),
        devices.envelope.take(device_index), f',"collector":"{COLLECTOR}","batchContext":null,"messageBytes":',
        pc.cast(pc.binary_length(message), pa.string()), ',"message":', message, "}\n", "",
    )  # fmt: skip


def _line_bytes(lines: pa.StringArray) -> memoryview:
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


@dataclass
class Generated:
    events: int
    unique_messages: int
    duplicates: int
    sessions: int
    people: int
    devices: int
    files: int
    gzip_bytes: int
    json_bytes: int
    message_bytes: int
    seconds: float
    types: dict[str, int]


def generate_day(store_root: Path, events: int, files_per_hour: int, seed: int) -> Generated:
    """Write the landed day under `store_root` (landing/ and watermarks/), as the collector would."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    catalog = build_catalog(rng)
    devices = build_devices(rng, PEOPLE)
    day = plan_day(rng, devices, catalog, events)
    hour = (day.received_ms - DAY_START_MS) // 3_600_000
    bounds = np.searchsorted(hour, np.arange(25))
    chunks = []
    for h in range(24):
        cuts = np.linspace(bounds[h], bounds[h + 1], files_per_hour + 1).astype(int)
        chunks += [(h, slice(a, b)) for a, b in itertools.pairwise(cuts) if b > a]

    def write(numbered: tuple[int, tuple[int, slice]]) -> tuple[int, int]:
        number, (h, rows) = numbered
        lines = landed_lines(day, devices, catalog, rows)
        data = _line_bytes(lines)
        compressed = gzip.compress(data, compresslevel=1, mtime=0)  # as the collector's uploader
        path = store_root / f"landing/received_date={DAY:%Y-%m-%d}/hour={h:02d}/{COLLECTOR}-{number:06d}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(compressed)
        return len(compressed), len(data)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        sizes = list(pool.map(write, enumerate(chunks, start=1)))
    watermark = {
        "collectorId": COLLECTOR,
        "watermark": f"{DAY + timedelta(days=1):%Y-%m-%d}T00:05:00.000Z",
        "writtenAt": f"{DAY + timedelta(days=1):%Y-%m-%d}T00:05:00.123Z",
    }
    (store_root / "watermarks").mkdir(parents=True, exist_ok=True)
    (store_root / f"watermarks/{COLLECTOR}.json").write_bytes(orjson.dumps(watermark))
    kinds = {
        "identify": int(np.count_nonzero(day.name == catalog.identify)),
        "screen": int(np.count_nonzero(np.isin(day.name, catalog.screen_ids))),
        "page": int(np.count_nonzero(np.isin(day.name, catalog.page_ids))),
    }
    kinds["track"] = events - sum(kinds.values())
    sample = landed_lines(day, devices, catalog, slice(0, min(events, 2000)))
    message_bytes = sum(len(line) - line.index('"message":') - len('"message":') - 2 for line in sample.to_pylist())
    return Generated(
        events=events,
        unique_messages=events - day.duplicates,
        duplicates=day.duplicates,
        sessions=day.sessions,
        people=PEOPLE,
        devices=len(devices),
        files=len(chunks),
        gzip_bytes=sum(size[0] for size in sizes),
        json_bytes=sum(size[1] for size in sizes),
        message_bytes=message_bytes // len(sample),
        seconds=time.perf_counter() - started,
        types=kinds,
    )


def check_landed_format(store_root: Path, samples: int = 400) -> int:
    """Rebuild sample lines with the collector's own `landed_record` and require identical bytes."""
    from revolt_pipeline.contract import Message, Receipt, landed_record, validate_message

    files = sorted((store_root / "landing").rglob("*.jsonl.gz"))
    picked = [files[0], files[len(files) // 2], files[-1]]
    checked = 0
    for path in picked:
        for line in gzip.decompress(path.read_bytes()).splitlines()[: samples // len(picked)]:
            record = orjson.loads(line)
            marker = b',"message":'
            raw = line[line.index(marker) + len(marker) : -1]
            message = validate_message(raw)
            if not isinstance(message, Message):
                raise AssertionError(f"generated message refused by the contract: {message}: {raw!r}")
            receipt = Receipt(
                received_at_ms=record["receivedAt"],
                sent_at_ms=record["sentAt"],
                batch_context=None,
                source=record["source"],
                platform=record["platform"],
                collector=record["collector"],
            )
            expected = landed_record(message, raw, receipt, receipt.shared_fields())
            if expected != line:
                raise AssertionError(f"generated line differs from landed_record:\n{line!r}\n{expected!r}")
            checked += 1
    return checked


# --------------------------------------------------------------------------------------------------
# Stages, each run in a child process: `python -m benchmarks.pipeline_day --child STAGE --root ROOT`.
# They call the layer library (revolt_pipeline/layers/) exactly as the Dagster assets do
# (revolt_pipeline/defs/*/assets.py), without Dagster, whose import alone would add to every stage's memory.
# --------------------------------------------------------------------------------------------------


class Steps:
    """Wall-clock seconds per step, the process's CPU seconds (all threads) over all of them, and the
    seconds of each DuckDB statement run inside the steps (a finer view, included in the steps' time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.statements: dict[str, float] = {}
        self.cpu = 0.0

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu += time.process_time() - cpu


_COPY_TARGET = re.compile(r"\) TO '((?:[^']|'')*)' \(FORMAT", re.DOTALL)
_CREATE_TABLE = re.compile(r"^\s*CREATE (?:OR REPLACE )?(?:TEMP |TEMPORARY )?TABLE (\w+)", re.IGNORECASE)


class TimedConnection:
    """A DuckDB connection that times each `execute` under a short label, and is otherwise the connection.

    The layer library only calls `execute` (then `fetchone`/`fetchall` on the materialized result), so the
    library runs unchanged; the label says what the statement was: `copy <file>` for a COPY (the date
    left out of the file's name), `<calling function> table <name>` for a CREATE TABLE, and
    `<calling function> query` for anything else.
    """

    def __init__(self, connection: Any, steps: Steps) -> None:
        self._connection = connection
        self._steps = steps

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        label = self._label(query, sys._getframe(1).f_code.co_name)
        started = time.perf_counter()
        try:
            return self._connection.execute(query, *args, **kwargs)
        finally:
            statements = self._steps.statements
            statements[label] = statements.get(label, 0.0) + time.perf_counter() - started

    @staticmethod
    def _label(query: str, caller: str) -> str:
        if query.lstrip().upper().startswith("COPY"):
            target = _COPY_TARGET.search(query)
            name = Path(target.group(1)).name if target else "?"
            return "copy " + re.sub(r"-\d{4}-\d{2}-\d{2}", "", name).removesuffix(".parquet")
        created = _CREATE_TABLE.match(query)
        return f"{caller} table {created.group(1)}" if created else f"{caller} query"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store(root: Path) -> Any:
    from revolt_pipeline.storage import ObjectStore

    return ObjectStore((root / "store").as_uri())


def stage_floor(root: Path, steps: Steps, _url: str | None) -> dict[str, Any]:
    import pyarrow.json as pa_json

    files = sorted((root / "store/landing").rglob("*.jsonl.gz"))
    rows = 0
    with steps.step("read_json"):
        for path in files:
            rows += pa_json.read_json(path).num_rows
    return {"rows": rows}


def stage_raw(root: Path, steps: Steps, _url: str | None) -> dict[str, Any]:
    """`raw_events` for one received day: the watermark check, then `build_raw_day`."""
    from revolt_pipeline.layers.raw import build_raw_day
    from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks
    from revolt_pipeline.transforms.engine import duckdb_connection
    from revolt_pipeline.transforms.rules import PipelineRules

    store = _store(root)
    with steps.step("wait_for_watermarks"):
        day_end = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1)
        watermarks = read_watermarks(store)
        if not watermarks:
            raise SystemExit(f"no collector has published a watermark in {store.uri('watermarks')}")
        lagging = lagging_collectors(watermarks, day_end)
        if lagging:
            raise SystemExit(f"watermarks have not passed {day_end}: {lagging}")
    with (
        steps.step("build_raw_day"),
        tempfile.TemporaryDirectory(prefix="revolt-raw-") as folder,
        duckdb_connection() as connection,
    ):
        built = build_raw_day(store, TimedConnection(connection, steps), DAY, PipelineRules(), Path(folder))
    return {
        "rows": built.rows,
        "rows_by_assigned_date": built.profile.rows_by_assigned_date,
        "null_counts": {column: n for column, n in built.profile.null_counts.items() if n},
        "drift": len(built.drift),
    }


def stage_clean(root: Path, steps: Steps, _url: str | None) -> dict[str, Any]:
    """`cleaned_events`, `sessionized` and `daily_aggregates` for the event day, each with its own
    connection and work folder as its asset: `clean_days`, `sessionize_day`, `aggregate_day`."""
    from revolt_pipeline.layers.cleaned import aggregate_day, clean_days, sessionize_day
    from revolt_pipeline.transforms.engine import duckdb_connection
    from revolt_pipeline.transforms.rules import PipelineRules

    store = _store(root)
    rules = PipelineRules()
    with (
        steps.step("clean_days"),
        tempfile.TemporaryDirectory(prefix="revolt-clean-") as folder,
        duckdb_connection() as connection,
    ):
        (cleaned,) = list(clean_days(store, TimedConnection(connection, steps), [DAY], rules, Path(folder)))
    with (
        steps.step("sessionize_day"),
        tempfile.TemporaryDirectory(prefix="revolt-sessions-") as folder,
        duckdb_connection() as connection,
    ):
        sessions = sessionize_day(store, TimedConnection(connection, steps), DAY, rules, Path(folder))
    with (
        steps.step("aggregate_day"),
        tempfile.TemporaryDirectory(prefix="revolt-aggregates-") as folder,
        duckdb_connection() as connection,
    ):
        aggregate_day(store, TimedConnection(connection, steps), DAY, Path(folder))
    return {
        "assigned_rows": cleaned.assigned_rows,
        "events": cleaned.events,
        "repeated_ids": cleaned.events - cleaned.distinct_message_ids,
        "null_required": sum(cleaned.null_counts.values()),
        "quarantined": cleaned.quarantined,
        "reconciled": cleaned.reconciled,
        "sessions": sessions.sessions,
        "sessionized_events": sessions.sessionized_events,
        "cleaned_events": sessions.cleaned_events,
        "without_session": sessions.events_without_session,
        "bad_session_bounds": sessions.inconsistent_sessions,
    }


def stage_report(root: Path, steps: Steps, url: str | None) -> dict[str, Any]:
    """`report_tables` and `event_catalog` for the day into the report database at `url`, with the
    assets' check that the database holds exactly the rows loaded."""
    from revolt_pipeline.layers.report_tables import load_aggregate, load_event_catalog, rows_in_database
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine, ensure_tables

    assert url is not None
    store = _store(root)
    loaded: dict[str, int] = {}
    with steps.step("connect"):
        engine = create_engine(url)
        ensure_tables(engine)

    def check(table: Any, rows: pa.Table) -> None:
        count = rows_in_database(engine, table, [DAY])
        if count != rows.num_rows:
            raise AssertionError(f"{table.name}: {count} rows in the database, {rows.num_rows} in the lake")
        loaded[table.name] = count

    for table in (schema.daily_active_users, schema.sessions_daily, schema.events_daily):
        with steps.step(f"load_{table.name}"):
            check(table, load_aggregate(engine, store, table, [DAY]))
    with steps.step("load_event_catalog"):
        check(schema.event_catalog, load_event_catalog(engine, store, [DAY]))
    engine.dispose()
    return {"loaded": loaded}


STAGES = {"floor": stage_floor, "raw": stage_raw, "clean": stage_clean, "report": stage_report}


def child(stage: str, root: Path, url: str | None) -> None:
    steps = Steps()
    outcome = STAGES[stage](root, steps, url)
    print(
        json.dumps(
            {
                "seconds": sum(steps.seconds.values()),
                "cpu": steps.cpu,
                "steps": steps.seconds,
                "statements": steps.statements,
                "peak_rss_mb": _peak_rss_mb(),
                **outcome,
            }
        )
    )


# --------------------------------------------------------------------------------------------------
# The parent: generate, run every stage in a fresh process, print.
# --------------------------------------------------------------------------------------------------


def run_stage(stage: str, root: Path, url: str | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.pipeline_day", "--child", stage, "--root", str(root)]
    if url:
        command += ["--url", url]
    # Temporary files (DuckDB's spill folder, the assets' work folders) go under the benchmark's folder.
    scratch = root / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TMPDIR": str(scratch)},
        check=False,
    )
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr)
        raise SystemExit(f"stage {stage} failed (exit {finished.returncode})")
    return json.loads(finished.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def throwaway_postgres(enabled: bool) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL cluster from the test fixtures, or (None, why not)."""
    if not enabled:
        yield None, "skipped (--no-postgres)"
        return
    try:
        import pytest

        from revolt_pipeline_tests.fixtures.postgres import running_postgres
    except ImportError as exc:
        yield None, f"unavailable: {exc}"
        return
    manager = running_postgres()
    try:
        server = manager.__enter__()
    except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
        yield None, f"unavailable: {exc}"
        return
    try:
        yield server, ""
    finally:
        manager.__exit__(None, None, None)


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_day(events: int, base: Path, args: argparse.Namespace, postgres: Any, why_not: str) -> dict[str, Any]:
    root = base / f"day-{events}"
    print(f"\n=== {events:,} events, received day {DAY} ===", flush=True)
    generated = generate_day(root / "store", events, args.files_per_hour, SEED + events)
    checked = check_landed_format(root / "store")
    types = ", ".join(f"{name} {count / events:.0%}" for name, count in sorted(generated.types.items()))
    print(
        f"generated in {generated.seconds:.1f} s: {generated.events:,} landed lines = {generated.unique_messages:,} "
        f"messages + {generated.duplicates:,} redelivered; {generated.people:,} people on {generated.devices:,} "
        f"devices, {generated.sessions:,} planned sessions; {types}\n"
        f"  {generated.files} files ({args.files_per_hour} per hour), {generated.gzip_bytes / 1e6:,.0f} MB gzip, "
        f"{generated.json_bytes / 1e6:,.0f} MB JSON, {generated.json_bytes / events:.0f} B per landed line, "
        f"{generated.message_bytes} B per message; {checked} sample lines identical to landed_record's",
        flush=True,
    )

    # The floor is the yardstick of every ratio: the median of up to --floor-runs runs, as many as fit in
    # a minute (at 5 M events one run takes about that).
    floors = [run_stage("floor", root)]
    while len(floors) < args.floor_runs and sum(run["seconds"] for run in floors) < FLOOR_BUDGET_SECONDS:
        floors.append(run_stage("floor", root))
    if any(run["rows"] != events for run in floors):
        raise SystemExit(f"the floor parsed {floors[0]['rows']} rows, expected {events}")
    floor = {
        "seconds": statistics.median(run["seconds"] for run in floors),
        "cpu": statistics.median(run["cpu"] for run in floors),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in floors),
    }
    raw = run_stage("raw", root)
    clean = run_stage("clean", root)
    sqlite = run_stage("report", root, f"sqlite:///{root / 'reports.sqlite'}")
    pg = None
    if postgres is not None:
        name = f"bench_{events}"
        postgres.drop_database(name)
        pg = run_stage("report", root, postgres.create_database(name))

    floor_s = floor["seconds"]

    def row(label: str, *runs: dict[str, Any]) -> tuple[str, float, float, float]:
        return (
            label,
            sum(run["seconds"] for run in runs),
            sum(run["cpu"] for run in runs),
            max(run["peak_rss_mb"] for run in runs),
        )

    sessionizing = {**clean, "seconds": clean["seconds"] - clean["steps"]["aggregate_day"], "cpu": float("nan")}
    rows = [
        row(f"floor: pyarrow read_json (median of {len(floors)})", floor),
        row("a. raw: build_raw_day", raw),
        row("b. clean + sessionize + aggregates", clean),
        row("   of which clean + sessionize", sessionizing),
        row("c. report tables -> SQLite", sqlite),
    ]
    if pg is not None:
        rows.append(row("c. report tables -> PostgreSQL", pg))
    rows.append(row("d. whole day (a + b + c SQLite)", raw, clean, sqlite))
    if pg is not None:
        rows.append(row("d. whole day (a + b + c PostgreSQL)", raw, clean, pg))
    whole = rows[-2 if pg is not None else -1][1]
    peak = rows[-2 if pg is not None else -1][3]
    print(f"\n{'stage':<44}{'seconds':>9}{'CPU s':>8}{'events/s':>12}{'peak RSS MB':>13}{'x floor':>9}")
    for label, seconds, cpu, rss in rows:
        cpu_text = "" if cpu != cpu else f"{cpu:.1f}"  # NaN: not measured separately
        print(
            f"{label:<44}{seconds:>9.2f}{cpu_text:>8}{events / seconds:>12,.0f}{_mb(rss):>13}{seconds / floor_s:>9.2f}"
        )
    if pg is None:
        print(f"c. report tables -> PostgreSQL: {why_not}")
    floor_runs = ", ".join(f"{run['seconds']:.2f}" for run in floors)
    print(f"\nfloor runs: {floor_runs} s")
    for label, run in (("raw", raw), ("clean", clean), ("report SQLite", sqlite), ("report PostgreSQL", pg)):
        if run is not None:
            print(f"steps of {label}: " + ", ".join(f"{name} {s:.2f}" for name, s in run["steps"].items()))
            if run["statements"]:
                slowest = sorted(run["statements"].items(), key=lambda item: -item[1])
                print(f"  DuckDB statements of {label}: " + ", ".join(f"{name} {s:.2f}" for name, s in slowest))
    print(
        f"raw rows {raw['rows']:,} by assigned date {raw['rows_by_assigned_date']}, nulls {raw['null_counts']}; "
        f"cleaned {clean['events']:,} of {clean['assigned_rows']:,} assigned (repeated ids {clean['repeated_ids']}, "
        f"reconciled {clean['reconciled']}), quarantined {clean['quarantined']}; {clean['sessions']:,} sessions, "
        f"{clean['sessionized_events']:,} of {clean['cleaned_events']:,} events sessionized, "
        f"{clean['without_session']} without one, {clean['bad_session_bounds']} with bad bounds; "
        f"report rows {sqlite['loaded']}"
    )

    clean_ratio = (clean["seconds"] - clean["steps"]["aggregate_day"]) / floor_s
    day_ratio = whole / floor_s
    bars = [
        (
            f"b. clean + sessionize from raw Parquet <= {CLEAN_BAR:g}x floor",
            clean_ratio <= CLEAN_BAR,
            f"{clean_ratio:.2f}x ({clean['seconds'] / floor_s:.2f}x with the aggregates)",
        ),
        (f"d. whole day <= {DAY_BAR:g}x floor", day_ratio <= DAY_BAR, f"{day_ratio:.2f}x"),
    ]
    if events >= MEMORY_BAR_EVENTS:
        bars.append((f"peak RSS < {MEMORY_BAR_MB / 1024:g} GB", peak < MEMORY_BAR_MB, f"{peak:,.0f} MB"))
    for label, ok, figure in bars:
        print(f"{_verdict(ok)}  {label}: {figure}")
    print(f"load average {_load_average()}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return {"events": events, "floor": floor_s, "clean": clean_ratio, "day": day_ratio, "peak": peak, "bars": bars}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--quick", action="store_true", help="one day of 200,000 events, a sanity run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")
    parser.add_argument("--files-per-hour", type=int, default=4)
    parser.add_argument("--floor-runs", type=int, default=FLOOR_RUNS, help="at most, as many as fit in a minute")
    parser.add_argument("--no-postgres", action="store_true", help="load the report tables into SQLite only")
    parser.add_argument("--child", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root, args.url)
        return
    sizes = [200_000] if args.quick else args.events
    base = Path(tempfile.mkdtemp(prefix="pipeline-day-bench-"))
    base.chmod(0o755)  # the throwaway PostgreSQL cluster lives here too, run by the postgres user
    tempfile.tempdir = str(base)
    print(
        f"pipeline_day: {', '.join(f'{n:,}' for n in sizes)} events; {os.cpu_count()} cores; "
        f"Python {sys.version.split()[0]}, duckdb {_version('duckdb')}, pyarrow {pa.__version__}; "
        f"DuckDB memory limit {os.environ.get('REVOLT_DUCKDB_MEMORY_LIMIT', '3GB')}; folder {base}; "
        f"load average {_load_average()}",
        flush=True,
    )
    started = time.perf_counter()
    try:
        with throwaway_postgres(not args.no_postgres) as (postgres, why_not):
            results = [bench_day(n, base, args, postgres, why_not) for n in sizes]
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n=== summary ({time.perf_counter() - started:.0f} s in all) ===")
    for result in results:
        verdicts = "; ".join(f"{_verdict(ok)} {label.split(':')[0]} ({figure})" for label, ok, figure in result["bars"])
        print(f"{result['events']:>10,} events: floor {result['floor']:.2f} s; {verdicts}")
    if args.keep:
        print(f"kept {base}")


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _version(module: str) -> str:
    return __import__(module).__version__


if __name__ == "__main__":
    main()
