"""A synthetic received day of landed events, in exactly the collector's landed-record format.

Vectorized with numpy and pyarrow rather than sent through the collector, so a day of millions of
events is written in seconds: gzip JSON Lines under `landing/received_date=D/hour=HH/` and the
collector's watermark, as the collector's uploader writes them. `check_landed_format` rebuilds sample
lines with `landed_record` itself and requires the same bytes. The population (sources, devices,
people, event catalog) and the day's plan (sessions, deliveries, duplicates, late and offline
traffic) are described in benchmarks/README.md.

    python -m benchmarks.synthetic_day FOLDER [--events 1000000] [--files-per-hour 4] [--seed N]
"""

import argparse
import gzip
import itertools
import os
import time
from collections.abc import Callable
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
    client_ips: pa.StringArray  # `"8.8.8.8"`: the address the collector received the device's batches from
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
    # Each device's public IPv4 address, drawn apart so the other figures' draws stay as they were: one distinct
    # address per device, as the country lookup meets them (first octets of networks the registries assigned).
    ip_rng = np.random.default_rng(count)
    first = np.array([8, 24, 31, 37, 41, 49, 58, 62, 77, 81, 85, 90, 101, 103, 110, 118, 125, 133, 151, 175, 177,
                      181, 186, 189, 190, 193, 200, 201, 212, 213])[ip_rng.integers(0, 30, count)]  # fmt: skip
    rest = ip_rng.integers(0, 256, (count, 3))
    client_ips = [f'"{a}.{b}.{c}.{d}"' for a, (b, c, d) in zip(first.tolist(), rest.tolist(), strict=True)]
    return Devices(
        client_ips=pa.array(client_ips, pa.string()),
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
        ',"messageIdGenerated":false,"ipCountry":null,"receivedAt":', _number_strings(received_ms),
        devices.envelope.take(device_index), f',"collector":"{COLLECTOR}","clientIp":',
        devices.client_ips.take(device_index), ',"batchContext":null,"messageBytes":',
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
                client_ip=record["clientIp"],
            )
            expected = landed_record(message, raw, receipt, receipt.shared_fields(), record["ipCountry"])
            if expected != line:
                raise AssertionError(f"generated line differs from landed_record:\n{line!r}\n{expected!r}")
            checked += 1
    return checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the store's root folder: landing/ and watermarks/ go in it")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files-per-hour", type=int, default=4)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    generated = generate_day(args.folder, args.events, args.files_per_hour, args.seed)
    print(
        f"{generated.events:,} landed lines of {DAY} in {args.folder} ({generated.files} files, "
        f"{generated.gzip_bytes / 1e6:,.0f} MB gzip) in {generated.seconds:.1f} s; "
        f"{check_landed_format(args.folder)} sample lines identical to landed_record's"
    )


if __name__ == "__main__":
    main()
