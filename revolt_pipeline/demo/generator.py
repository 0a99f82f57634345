"""Plan a window of demo traffic: sessions, the messages in them, when each is sent, and the truth.

Pure and deterministic for a seed. Sessions of one person are kept more than 35 minutes apart and
events inside a session less than 20 minutes apart, so a 30-minute inactivity rule finds exactly the
sessions generated here. Offline sessions are delivered either well within or well beyond the
lateness window, never across it, so each session is wholly on time or wholly too late.
"""

import itertools
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from revolt_pipeline.demo.population import (
    PERSONAS,
    PLATFORMS,
    REGION_COUNTRIES,
    Device,
    Person,
    build_population,
    device_ip,
    habitual_features,
    plant_churn,
    plant_personas,
    stable_uuid,
)
from revolt_pipeline.transforms.funnels import Funnel, parse_funnels

SEND_TICK = timedelta(minutes=30)
SESSION_GAP = timedelta(minutes=35)
MAX_EVENT_GAP_SECONDS = 20 * 60
LATENESS_WINDOW = timedelta(days=3)
SESSION_TIMEOUT = timedelta(minutes=30)
WAU_DAYS = 7
MAU_DAYS = 30  # the pipeline's default MAU window (REVOLT_MAU_WINDOW_DAYS)


@dataclass(frozen=True)
class PlannedMessage:
    message_id: str
    kind: str
    device: int
    person_key: str
    session: int
    event_time: datetime
    send_time: datetime
    user_id: str | None
    anonymous_id: str | None
    app_version: str
    name: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    group_id: str | None = None
    previous_id: str | None = None
    resend: bool = False
    planted: bool = False  # a persona's habitual feature (`habitual_features`), drawn apart from the plan

    @property
    def too_late(self) -> bool:
        return self.send_time - self.event_time > LATENESS_WINDOW


@dataclass(frozen=True)
class MalformedMessage:
    """What a buggy build sends: refused by the collector and quarantined with `reason`."""

    send_time: datetime
    source: str
    payload: dict[str, Any]
    reason: str


@dataclass
class Traffic:
    start: date
    days: int
    seed: int
    people: list[Person]
    devices: list[Device]
    messages: list[PlannedMessage] = field(default_factory=list)
    malformed: list[MalformedMessage] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        """Last moment anything is sent: late deliveries run past the activity window."""
        times = [m.send_time for m in self.messages] + [m.send_time for m in self.malformed]
        return max(times)


def _ceil_tick(moment: datetime) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    ticks = math.ceil((moment - epoch) / SEND_TICK)
    return epoch + ticks * SEND_TICK


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here are small.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Planner:
    def __init__(self, rng: random.Random, traffic: Traffic) -> None:
        self.rng = rng
        self.traffic = traffic
        self.session_count = 0

    def plan(self) -> None:
        for person in self.traffic.people:
            # Where the last session ended without its planted habits (the plan's draws decide from it, as they
            # did before habits were planted), and where it really ended.
            last_end: datetime | None = None
            busy_until: datetime | None = None
            for day_number in range(self.traffic.days):
                for start in self._session_starts(person, day_number):
                    if last_end is not None and start < last_end + SESSION_GAP:
                        start = last_end + SESSION_GAP + timedelta(seconds=self.rng.uniform(0, 900))
                    if (start.date() - self.traffic.start).days >= self.traffic.days:
                        break  # the window is over
                    planned = len(self.traffic.messages)
                    # A session starting too soon after the habits that ended the one before is moved on, no draw.
                    begins = _ms(start)
                    if busy_until is not None and begins < busy_until + SESSION_GAP:
                        begins = busy_until + SESSION_GAP
                    own_end, busy_until = self._session(person, day_number, begins)
                    last_end = _ms(start) + (own_end - begins)
                    if self._faded(person, day_number):
                        del self.traffic.messages[planned:]
        self._add_duplicates_and_malformed()
        self.traffic.messages.sort(key=lambda m: (m.send_time, m.device, m.event_time, m.message_id))
        self.traffic.malformed.sort(key=lambda m: m.send_time)

    def _faded(self, person: Person, day_number: int) -> bool:
        """Whether a planned session of a person who fades does not happen. Decided apart from the plan's own
        random draws (the session is planned, then dropped), so the rest of the traffic stays as it was."""
        draw = random.Random(f"{self.traffic.seed}:{person.index}:{day_number}:{self.session_count}").random()
        return draw >= person.return_rate(day_number) * person.churn_keep_rate(day_number)

    def _session_starts(self, person: Person, day_number: int) -> list[datetime]:
        if person.churn_day is not None and day_number >= person.churn_day:
            return []
        if person.signup_day is not None and day_number < person.signup_day:
            return []
        day = self.traffic.start + timedelta(days=day_number)
        working_day = day.weekday() < 5
        count = _poisson(self.rng, person.activity * (1.0 if working_day else 0.12))
        if person.signup_day == day_number:
            count = max(count, 1)
        _, offset_hours, _ = person.region
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=offset_hours)
        hours = sorted(
            min(
                23.5,
                max(
                    6.0,
                    self.rng.choice([(9.0, 1.3), (13.5, 1.0), (16.5, 1.6), (20.5, 1.2)])[0] + self.rng.gauss(0, 1.2),
                ),
            )
            for _ in range(count)
        )
        return [local_midnight + timedelta(hours=hour) for hour in hours]

    def _pick_device(self, person: Person, signing_up: bool) -> Device:
        if signing_up or person.user_id is None:
            return person.devices[0]  # the web browser they found us with
        return self.rng.choices(person.devices, weights=person.device_weights)[0]

    def _session(self, person: Person, day_number: int, start: datetime) -> tuple[datetime, datetime]:
        """Plan one session from `start`; returns when its own steps end, and when it ends (planted habits too)."""
        signing_up = person.signup_day == day_number and not any(d.identified for d in person.devices)
        device = self._pick_device(person, signing_up)
        session = self.session_count
        self.session_count += 1
        steps = self._steps(person, device, signing_up)
        # A persona's habitual features end the session: drawn from a generator of the session's own (their
        # times and ids too), so every other draw of the plan is what it was without them.
        habit = random.Random(f"habit:{self.traffic.seed}:{session}")
        planted = [
            ("track", feature, {"feature_area": person.persona}, {"planted": True})
            for feature in habitual_features(person, device.platform, day_number, habit)
        ]
        steps += planted
        moment = start
        times = []
        for number in range(len(steps)):
            times.append(moment)
            draws = habit if number >= len(steps) - len(planted) else self.rng
            moment = _ms(moment + timedelta(seconds=min(MAX_EVENT_GAP_SECONDS, max(1.0, draws.expovariate(1 / 150)))))
        end = times[-1]
        own_end = times[len(times) - len(planted) - 1] if len(planted) < len(times) else start
        offline_delay = None
        if device.platform in ("ios", "android") and self.rng.random() < 0.09:
            offline_delay = self.rng.choice(
                [
                    timedelta(hours=self.rng.uniform(1, 20)),
                    timedelta(hours=self.rng.uniform(1, 20)),
                    timedelta(hours=self.rng.uniform(26, 44)),
                    timedelta(days=self.rng.uniform(4.2, 6.0)),
                ]
            )
        user_id = person.user_id if device.identified or device.anonymous_id is None else None
        for (kind, name, properties, extra), when in zip(steps, times, strict=True):
            if kind in ("identify", "alias"):
                user_id = person.user_id
            send = _ceil_tick(end + offline_delay) if offline_delay is not None else _ceil_tick(when)
            self.traffic.messages.append(
                PlannedMessage(
                    message_id=stable_uuid(habit if extra.get("planted") else self.rng),
                    kind=kind,
                    device=device.index,
                    person_key=person.key,
                    session=session,
                    event_time=when,
                    send_time=send,
                    user_id=user_id,
                    anonymous_id=device.anonymous_id,
                    app_version=device.app_version(day_number),
                    name=name,
                    properties=properties,
                    **extra,
                )
            )
        if person.user_id is not None:
            device.identified = True
        return own_end, end

    def _steps(self, person: Person, device: Device, signing_up: bool) -> list[tuple[str, str | None, Any, dict]]:
        rng = self.rng
        steps: list[tuple[str, str | None, Any, dict]] = []
        traits = {
            "team": person.team_id,
            "locale": person.region[2],
            "plan": rng.choice(["free", "team", "business"]),
        }
        if signing_up:
            steps += [
                ("page", "Home", {"path": "/"}, {}),
                ("page", "Pricing", {"path": "/pricing"}, {}),
                ("track", "Signup Started", {"plan": traits["plan"]}, {}),
            ]
            if rng.random() < 0.3:
                steps.append(("alias", None, None, {"previous_id": device.anonymous_id}))
            steps += [
                ("identify", None, None, {"traits": {**traits, "signed_up": True}}),
                ("track", "Signed Up", {"plan": traits["plan"]}, {}),
                (
                    "group",
                    None,
                    None,
                    {"group_id": person.team_id, "traits": {"name": f"Team {person.team_id}"}},
                ),
            ]
        elif person.user_id is None:
            pages = ["Home", "Features", "Pricing", "Blog", "Integrations", "Customers"]
            return [("page", page, {"path": "/" + page.lower()}, {}) for page in rng.sample(pages, rng.randint(1, 4))]
        elif not device.identified:
            steps.append(("identify", None, None, {"traits": traits}))
        if device.platform in ("slack", "hangouts"):
            steps += [
                (
                    "track",
                    "Command Received",
                    {"command": rng.choice(["/tempo start", "/tempo stop", "/tempo log 1h"])},
                    {},
                )
                for _ in range(rng.randint(1, 3))
            ]
            return steps
        if device.platform == "google-assistant":
            return [
                *steps,
                (
                    "track",
                    "Voice Command",
                    {
                        "intent": rng.choice(["start_timer", "stop_timer", "hours_today"]),
                        "confidence": round(rng.uniform(0.6, 1.0), 2),
                    },
                    {},
                ),
            ]
        view = "page" if device.platform == "web" else "screen"
        newer = device.app_version(0) != device.app_version(self.traffic.days)
        for _ in range(rng.randint(2, 9)):
            screen = rng.choice(["Dashboard", "Timesheet", "Projects", "Reports", "Settings"])
            steps.append(
                (
                    view,
                    screen,
                    {"path": "/" + screen.lower()} if view == "page" else {"orientation": "portrait"},
                    {},
                )
            )
            project = f"project-{rng.randrange(40):02d}"
            action = rng.random()
            if action < 0.35:
                steps.append(("track", "Timer Started", {"project": project, "billable": rng.random() < 0.7}, {}))
                minutes = rng.randint(5, 240)
                # Android's new release sends duration_minutes with decimals: healthy variation, which the raw
                # layer catalogues as a number and its drift check must not flag.
                duration: int | float = (
                    round(minutes + rng.random(), 2) if device.platform == "android" and newer else minutes
                )
                # Planted for the funnels to find: most Android users start a timer and discard it rather than
                # save the entry (the `time_entry` funnel's last step, by platform). A generator of its own decides,
                # and the discard takes the save's place, so the rest of the plan draws the same numbers as before.
                saves = random.Random(f"entry-saved:{self.traffic.seed}:{self.session_count}:{len(steps)}").random()
                if device.platform != "android" or saves < 0.05:
                    steps.append(("track", "Entry Saved", {"project": project, "duration_minutes": duration}, {}))
                else:
                    steps.append(("track", "Timer Discarded", {"project": project}, {}))
            elif action < 0.5:
                steps.append(
                    (
                        "track",
                        "Report Viewed",
                        {"report": rng.choice(["weekly", "monthly", "by_project"])},
                        {},
                    )
                )
            elif action < 0.58:
                steps.append(
                    (
                        "track",
                        "Invoice Exported",
                        {"format": rng.choice(["pdf", "csv"]), "amount": round(rng.uniform(100, 9000), 2)},
                        {},
                    )
                )
            elif action < 0.62:
                steps.append(("track", "Project Created", {"client": f"client-{rng.randrange(25):02d}"}, {}))
        return steps

    def _add_duplicates_and_malformed(self) -> None:
        extra: list[PlannedMessage] = []
        for message in self.traffic.messages:
            # Planted messages draw from a generator of their own, so the others are duplicated as before.
            rng = random.Random(f"habit-resent:{message.message_id}") if message.planted else self.rng
            if rng.random() < 0.012:
                # The SDK sent this batch, the acknowledgement was lost, the SDK sent it again.
                later = message.send_time + SEND_TICK * rng.randint(1, 3)
                extra.append(PlannedMessage(**{**message.__dict__, "send_time": later, "resend": True}))
            if message.kind == "track" and rng.random() < 0.005:
                self.traffic.malformed.append(self._malformed(message, rng))
        self.traffic.messages.extend(extra)

    def _malformed(self, message: PlannedMessage, rng: random.Random) -> MalformedMessage:
        device = self.traffic.devices[message.device]
        base: dict[str, Any] = {
            "type": "track",
            "messageId": stable_uuid(rng),
            "userId": message.user_id,
            "anonymousId": message.anonymous_id,
            "event": message.name,
            "originalTimestamp": message.event_time.isoformat(timespec="milliseconds"),
            "properties": message.properties,
        }
        flaw = rng.randrange(4)
        if flaw == 0:
            del base["event"]
            reason = "missing_field"
        elif flaw == 1:
            base["properties"] = list((message.properties or {}).items())
            reason = "invalid_field"
        elif flaw == 2:
            base["originalTimestamp"] = message.event_time.replace(tzinfo=None).isoformat()
            reason = "invalid_timestamp"
        else:
            base["userId"], base["anonymousId"] = None, None
            reason = "missing_identity"
        return MalformedMessage(message.send_time, device.source, base, reason)


def plan_traffic(*, seed: int = 7, users: int = 250, days: int = 7, start: date | None = None) -> Traffic:
    """The whole window of traffic for a seed; `start` defaults to two weeks ago, so every date is past."""
    rng = random.Random(seed)
    start = start or (datetime.now(UTC).date() - timedelta(days=days + 7))
    people = build_population(rng, users, days)
    plant_personas(people, seed, days)
    plant_churn(people, seed, days)
    devices = [device for person in people for device in person.devices]
    traffic = Traffic(start=start, days=days, seed=seed, people=people, devices=devices)
    _Planner(rng, traffic).plan()
    return traffic


def ground_truth(traffic: Traffic) -> dict[str, Any]:
    """What a correct pipeline reports for this traffic: per event date, DAU, WAU, MAU, new users, sessions and
    events."""
    delivered = [m for m in traffic.messages if not m.resend]
    on_time = [m for m in delivered if not m.too_late]
    by_session: dict[int, list[PlannedMessage]] = defaultdict(list)
    for message in on_time:
        by_session[message.session].append(message)
    sessions = []
    for number, messages in sorted(by_session.items()):
        messages.sort(key=lambda m: (m.event_time, m.message_id))
        first, last = messages[0], messages[-1]
        sessions.append(
            {
                "session": number,
                "person": first.person_key,
                "start": first.event_time.isoformat(timespec="milliseconds"),
                "end": last.event_time.isoformat(timespec="milliseconds"),
                "events": len(messages),
                "platform": traffic.devices[first.device].platform,
                "app_version": first.app_version,
            }
        )
    days: dict[str, dict[str, Any]] = defaultdict(lambda: {"users": set(), "events": 0, "sessions": 0})
    for message in on_time:
        day = days[message.event_time.date().isoformat()]
        day["users"].add(message.person_key)
        day["events"] += 1
    for session in sessions:
        days[session["start"][:10]]["sessions"] += 1
    first_seen: dict[str, str] = {}
    for day_key in sorted(days):
        for person in days[day_key]["users"]:
            first_seen.setdefault(person, day_key)

    def active_in(day_key: str, window: int) -> int:
        ending = date.fromisoformat(day_key)
        wanted = {(ending - timedelta(days=n)).isoformat() for n in range(window)}
        return len(set().union(*(days[d]["users"] for d in wanted if d in days)))

    # Who was active on each day on each platform and app version, for the breakdowns of active users.
    by_dimension: dict[str, dict[str, dict[str, set[str]]]] = {
        "platform": defaultdict(lambda: defaultdict(set)),
        "app_version": defaultdict(lambda: defaultdict(set)),
    }
    for message in on_time:
        day_key = message.event_time.date().isoformat()
        by_dimension["platform"][day_key][traffic.devices[message.device].platform].add(message.person_key)
        # Keyed `platform|app_version`: the report table's grain is the pair.
        pair = f"{traffic.devices[message.device].platform}|{message.app_version}"
        by_dimension["app_version"][day_key][pair].add(message.person_key)

    def breakdown(dimension: str) -> dict[str, dict[str, dict[str, int]]]:
        """Per day of traffic and value active in the MAU window ending on it: DAU, WAU, MAU and new users."""
        active = by_dimension[dimension]
        result: dict[str, dict[str, dict[str, int]]] = {}
        for day_key in sorted(days):
            ending = date.fromisoformat(day_key)
            window = [(ending - timedelta(days=n)).isoformat() for n in range(MAU_DAYS)]
            values = {value for d in window for value in active.get(d, {})}
            result[day_key] = {
                value: {
                    "dau": len(active[day_key].get(value, set())) if day_key in active else 0,
                    "wau": len(set().union(*(active[d].get(value, set()) for d in window[:WAU_DAYS] if d in active))),
                    "mau": len(set().union(*(active[d].get(value, set()) for d in window if d in active))),
                    "new_users": sum(
                        1
                        for person in (active[day_key].get(value, set()) if day_key in active else set())
                        if first_seen[person] == day_key
                    ),
                }
                for value in sorted(values)
            }
        return result

    malformed_reasons: dict[str, int] = defaultdict(int)
    for malformed in traffic.malformed:
        malformed_reasons[malformed.reason] += 1
    people = traffic.people
    return {
        "params": {
            "seed": traffic.seed,
            "start": traffic.start.isoformat(),
            "days": traffic.days,
            "users": len(people),
            "session_timeout_minutes": SESSION_TIMEOUT.total_seconds() / 60,
            "lateness_window_days": LATENESS_WINDOW.days,
            "wau_days": WAU_DAYS,
            "mau_days": MAU_DAYS,
        },
        "totals": {
            "messages_sent": len(traffic.messages),
            "duplicate_deliveries": len(traffic.messages) - len(delivered),
            "unique_messages": len(delivered),
            "too_late": len(delivered) - len(on_time),
            "on_time_unique": len(on_time),
            "malformed": len(traffic.malformed),
            "malformed_by_reason": dict(sorted(malformed_reasons.items())),
            "sessions": len(sessions),
            "people": len(people),
            "identified_people": sum(1 for p in people if p.user_id is not None),
            "anonymous_visitors": sum(1 for p in people if p.user_id is None),
            "devices": len(traffic.devices),
            "skewed_devices": sum(1 for d in traffic.devices if d.skew),
            "offline_deliveries": sum(1 for m in delivered if m.send_time - m.event_time > 2 * SEND_TICK),
        },
        "days": {
            day: {
                "daily_active_users": len(v["users"]),
                # Distinct people active in the 7 and 30 days ending on the day, and first seen on it.
                "weekly_active_users": active_in(day, WAU_DAYS),
                "monthly_active_users": active_in(day, MAU_DAYS),
                "new_users": sum(1 for seen in first_seen.values() if seen == day),
                "sessions": v["sessions"],
                "events": v["events"],
            }
            for day, v in sorted(days.items())
        },
        "active_users_daily_by_platform": breakdown("platform"),
        "active_users_daily_by_app_version": breakdown("app_version"),
        "sessions": sessions,
        **people_truth(on_time, sessions, traffic),
        **device_dimension_truth(traffic),
        "paths": paths_ground_truth(traffic),
        "funnels": funnel_ground_truth(traffic, on_time, demo_funnels()),
        **lifecycle_retention_truth(traffic),
        **persona_truth(traffic),
        **churn_truth(traffic),
    }


def churn_truth(traffic: Traffic) -> dict[str, Any]:
    """The churn planted for the churn model: who leaves on which day and how (`style`: their activity decaying
    before it, or a burst after little use), and who takes a break and stays. In windows shorter than
    PLANTED_CHURN_MIN_DAYS, only the population's own churn (no style, no breaks)."""
    return {
        "planted_churn": {
            person.key: {
                "churn_date": (traffic.start + timedelta(days=person.churn_day)).isoformat()
                if person.churn_day is not None
                else None,
                "style": person.churn_style,
                "breaks": [
                    [(traffic.start + timedelta(days=day)).isoformat() for day in days] for days in person.break_days
                ],
            }
            for person in traffic.people
            if person.churn_day is not None or person.break_days
        }
    }


def churn_labels_truth(traffic: Traffic, cutoff: date, horizon_days: int, window_days: int = 28) -> dict[str, int]:
    """Who churned after `cutoff`, from the plan: of the people with a kept event in the `window_days` before it,
    1 for those with none in the `horizon_days` from it, else 0 (what the churn label must say)."""
    kept = [m for m in traffic.messages if not m.resend and not m.too_late]
    before, after = set(), set()
    for message in kept:
        days = (message.event_time.date() - cutoff).days
        if -window_days <= days < 0:
            before.add(message.person_key)
        elif 0 <= days < horizon_days:
            after.add(message.person_key)
    return {person: int(person not in after) for person in sorted(before)}


def people_truth(on_time: list[PlannedMessage], sessions: list[dict[str, Any]], traffic: Traffic) -> dict[str, Any]:
    """Who was active each day with how many events and sessions (`person_days`), and each person as the people
    table holds them at the end of the traffic (`people`, and the platform, app version, OS, locale and country
    of their first and latest event in `people_first_and_latest`), keyed by the person the pipeline should
    stitch."""
    person_days: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"events": 0, "sessions": 0})
    )
    for message in on_time:
        person_days[message.event_time.date().isoformat()][message.person_key]["events"] += 1
    for session in sessions:
        person_days[session["start"][:10]][session["person"]]["sessions"] += 1
    people: dict[str, dict[str, Any]] = {}
    for day, active in sorted(person_days.items()):
        for person, counts in active.items():
            seen = people.setdefault(
                person, {"first_seen": day, "last_seen": day, "events": 0, "sessions": 0, "days_active": 0}
            )
            seen["last_seen"] = day
            seen["events"] += counts["events"]
            seen["sessions"] += counts["sessions"]
            seen["days_active"] += 1
    # Every message sends its device's platform and OS, its app version, and its person's locale and country (by
    # address or time zone): the first and latest event (by time, then messageId) give each first and latest value.
    owner = {device.index: person for person in traffic.people for device in person.devices}
    ordered: dict[str, list[PlannedMessage]] = defaultdict(list)
    for message in sorted(on_time, key=lambda m: (m.event_time, m.message_id)):
        ordered[message.person_key].append(message)

    def sent(message: PlannedMessage) -> dict[str, str]:
        device, region = traffic.devices[message.device], owner[message.device].region
        return {
            "platform": device.platform,
            "app_version": message.app_version,
            "os_name": device.os_name,
            "os_version": device.os_version,
            "locale": region[2],
            "country": REGION_COUNTRIES[region[0]][0],
            "country_method": _country_method(device, owner[message.device]),
        }

    first_and_latest = {
        person: {
            **{f"first_{name}": value for name, value in sent(messages[0]).items()},
            **{f"latest_{name}": value for name, value in sent(messages[-1]).items()},
        }
        for person, messages in sorted(ordered.items())
    }
    return {
        "person_days": {
            day: {person: dict(counts) for person, counts in sorted(active.items())}
            for day, active in sorted(person_days.items())
        },
        "people": dict(sorted(people.items())),
        "people_first_and_latest": first_and_latest,
    }


# What each message says of its device, by breakdown (the report tables' suffix): a value, or several joined by
# `|` in the order of the report table's key. The sender sends the device's OS, its platform as device.type,
# the person's region's locale and time zone, the platform's SDK library (version `demo`) and, for some
# devices, an address of the region's country: every device's country is its region's, by IP or time zone.
DEVICE_DIMENSIONS: dict[str, Any] = {
    "os": lambda device, person: f"{device.os_name}|{device.os_version}",
    "device_type": lambda device, person: device.platform,
    "country": lambda device, person: f"{REGION_COUNTRIES[person.region[0]][0]}|{_country_method(device, person)}",
    "locale": lambda device, person: person.region[2],
    "source": lambda device, person: device.source,
    "library": lambda device, person: f"{PLATFORMS[device.platform][1]}|demo",
}


def _country_method(device: Device, person: Person) -> str:
    """How the pipeline finds the device's country: from its address when it sends one, else its time zone."""
    return "ip" if device_ip(device, person.region) is not None else "timezone"


# The breakdowns whose events the report tables count per platform and app version too: their values there start
# with `platform|app_version|`.
EVENTS_BY_APP_VERSION = ("os", "country")


def device_dimension_truth(traffic: Traffic) -> dict[str, Any]:
    """Events and active users per day by OS, device type, country, locale, source and SDK library, as
    `events_daily_by_<dimension>` ({day: {value: events}}, the value led by the platform and app version for
    EVENTS_BY_APP_VERSION) and `active_users_daily_by_<dimension>` ({day: {value: {dau, wau, mau, new_users}}} for
    every value active in the MAU window ending on each day of traffic), and each person's country
    (`people_countries`) and how many devices send an address (`devices_sending_ip`)."""
    on_time = [m for m in traffic.messages if not m.resend and not m.too_late]
    owner = {device.index: person for person in traffic.people for device in person.devices}
    first_seen: dict[str, str] = {}
    for message in sorted(on_time, key=lambda m: m.event_time):
        first_seen.setdefault(message.person_key, message.event_time.date().isoformat())
    traffic_days = sorted(set(first_seen.values()) | {m.event_time.date().isoformat() for m in on_time})
    truth: dict[str, Any] = {}
    for dimension, value_of in DEVICE_DIMENSIONS.items():
        events: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        active: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for message in on_time:
            day_key = message.event_time.date().isoformat()
            device = traffic.devices[message.device]
            value = value_of(device, owner[message.device])
            version = f"{device.platform}|{message.app_version}|" if dimension in EVENTS_BY_APP_VERSION else ""
            events[day_key][version + value] += 1
            active[day_key][value].add(message.person_key)
        truth[f"events_daily_by_{dimension}"] = {day: dict(sorted(values.items())) for day, values in events.items()}
        truth[f"active_users_daily_by_{dimension}"] = _actives_by_value(active, traffic_days, first_seen)
    truth["people_countries"] = {
        person.key: REGION_COUNTRIES[person.region[0]][0] for person in traffic.people if person.key in first_seen
    }
    truth["devices_sending_ip"] = sum(
        1 for device in traffic.devices if device_ip(device, owner[device.index].region) is not None
    )
    return truth


def _actives_by_value(
    active: dict[str, dict[str, set[str]]], day_keys: list[str], first_seen: dict[str, str]
) -> dict[str, dict[str, dict[str, int]]]:
    """DAU, WAU, MAU and new users per day and value, for the values active in the MAU window ending on the day."""
    result: dict[str, dict[str, dict[str, int]]] = {}
    for day_key in day_keys:
        ending = date.fromisoformat(day_key)
        window = [(ending - timedelta(days=n)).isoformat() for n in range(MAU_DAYS)]
        values = {value for d in window for value in active.get(d, {})}
        today = active.get(day_key, {})
        result[day_key] = {
            value: {
                "dau": len(today.get(value, set())),
                "wau": len(set().union(*(active.get(d, {}).get(value, set()) for d in window[:WAU_DAYS]))),
                "mau": len(set().union(*(active.get(d, {}).get(value, set()) for d in window))),
                "new_users": sum(1 for person in today.get(value, set()) if first_seen[person] == day_key),
            }
            for value in sorted(values)
        }
    return result


def _step(message: PlannedMessage) -> str | None:
    """The path step a message is: `page: Pricing`, `screen: Timesheet`, `track: Timer Started`; identify, alias
    and group are none. A page without a name is named by its path (as the pipeline does for analytics.js)."""
    if message.kind not in ("page", "screen", "track"):
        return None
    name = message.name if message.name and message.name.strip() else None
    if name is None and message.kind == "page":
        path = (message.properties or {}).get("path")
        name = path if isinstance(path, str) and path.strip() else None
    return f"{message.kind}: {name or '(no name)'}"


def paths_ground_truth(traffic: Traffic) -> dict[str, list[dict[str, Any]]]:
    """The rows the path report tables must hold, by table: each planned session's steps in order (immediate
    repeats collapsed), on the day it started, in total, per platform and per platform and app version."""
    by_session: dict[int, list[PlannedMessage]] = defaultdict(list)
    for message in traffic.messages:
        if not message.resend and not message.too_late:
            by_session[message.session].append(message)
    grains = {"": (), "_by_platform": ("platform",), "_by_app_version": ("platform", "app_version")}
    # Per grain and key: counters (events, occurrences, entries, exits, transitions) and sets (of sessions, people).
    steps: dict[str, dict[tuple, dict[str, Any]]] = {suffix: {} for suffix in grains}
    moves: dict[str, dict[tuple, dict[str, Any]]] = {suffix: {} for suffix in grains}

    def tally(rows: dict[tuple, dict[str, Any]], key: tuple) -> dict[str, Any]:
        return rows.setdefault(key, defaultdict(int, sessions=set(), people=set(), entry=set(), exit=set()))

    for number, messages in by_session.items():
        messages.sort(key=lambda m: (m.event_time, m.message_id))
        first = messages[0]
        sent = [step for m in messages if (step := _step(m)) is not None]
        path = [step for n, step in enumerate(sent) if n == 0 or sent[n - 1] != step]
        values = {"platform": traffic.devices[first.device].platform, "app_version": first.app_version}
        for suffix, dimensions in grains.items():
            group = (first.event_time.date().isoformat(), *(values[name] for name in dimensions))
            for step in sent:
                tally(steps[suffix], (*group, step))["events"] += 1
            for position, step in enumerate(path):
                row = tally(steps[suffix], (*group, step))
                row["occurrences"] += 1
                row["sessions"].add(number)
                row["people"].add(first.person_key)
                for end, at_end in (("entry", position == 0), ("exit", position == len(path) - 1)):
                    if at_end:
                        row[end + "_sessions"] += 1
                        row[end].add(first.person_key)
            for before, after in itertools.pairwise(path):
                move = tally(moves[suffix], (*group, before, after))
                move["transitions"] += 1
                move["sessions"].add(number)
                move["people"].add(first.person_key)

    truth: dict[str, list[dict[str, Any]]] = {}
    for suffix, dimensions in grains.items():
        truth["path_steps" + suffix] = [
            {
                **dict(zip(("session_date", *dimensions, "step"), key, strict=True)),
                "events": row["events"],
                "occurrences": row["occurrences"],
                "sessions_with_step": len(row["sessions"]),
                "people": len(row["people"]),
                "entries": row["entry_sessions"],
                "entry_people": len(row["entry"]),
                "exits": row["exit_sessions"],
                "exit_people": len(row["exit"]),
            }
            for key, row in sorted(steps[suffix].items())
        ]
        truth["path_transitions" + suffix] = [
            {
                **dict(zip(("session_date", *dimensions, "from_step", "to_step"), key, strict=True)),
                "transitions": row["transitions"],
                "sessions_with_transition": len(row["sessions"]),
                "people": len(row["people"]),
            }
            for key, row in sorted(moves[suffix].items())
        ]
    return truth


DEMO_FUNNELS_FILE = Path(__file__).with_name("funnels.toml")


def demo_funnels() -> tuple[Funnel, ...]:
    """The funnels `revolt demo` ships (demo/funnels.toml)."""
    return parse_funnels(DEMO_FUNNELS_FILE.read_text(encoding="utf-8"), str(DEMO_FUNNELS_FILE))


def _funnel_attempt(funnel: Funnel, events: list[tuple[Any, ...]], entry: int) -> list[datetime]:
    """The times of the steps an attempt starting at `events[entry]` reaches, by the rules of
    transforms/funnels.py, written again from them (not from the SQL). An event is (time, id, kind, name,
    properties, platform)."""
    start = events[entry][0]
    deadline = start + funnel.window
    steps = funnel.steps
    after = [e for e in events[entry + 1 :] if e[0] <= deadline]
    times = [start]
    if funnel.order == "ordered":
        position = -1
        for step in steps[1:]:
            found = next((i for i in range(position + 1, len(after)) if step.matches(*after[i][2:5])), None)
            if found is None:
                break
            position = found
            times.append(after[found][0])
    elif funnel.order == "strict":
        funnel_events = [e for e in after if any(step.matches(*e[2:5]) for step in steps)]
        for number, step in enumerate(steps[1:]):
            if number >= len(funnel_events) or not step.matches(*funnel_events[number][2:5]):
                break
            times.append(funnel_events[number][0])
    else:
        for step in steps[1:]:
            first = next((e[0] for e in after if step.matches(*e[2:5])), None)
            if first is None:
                break
            times.append(max(times[-1], first))
    return times


def _step_rows(funnel: Funnel, attempts: list[list[datetime]]) -> list[dict[str, Any]]:
    """Entered, reached and median times per step, as the step tables hold them."""

    def median_seconds(values: list[int]) -> float | None:
        return statistics.median(values) / 1000.0 if values else None

    def ms(delta: timedelta) -> int:
        return delta // timedelta(milliseconds=1)

    rows = []
    for number in range(1, len(funnel.steps) + 1):
        reached = [times for times in attempts if len(times) >= number]
        rows.append(
            {
                "step": number,
                "entered": len(attempts),
                "reached": len(reached),
                "median_seconds_from_previous": median_seconds([ms(t[number - 1] - t[number - 2]) for t in reached])
                if number > 1
                else None,
                "median_seconds_from_start": median_seconds([ms(t[number - 1] - t[0]) for t in reached])
                if number > 1
                else None,
            }
        )
    return rows


def funnel_ground_truth(
    traffic: Traffic, on_time: list[PlannedMessage], funnels: tuple[Funnel, ...]
) -> dict[str, dict[str, Any]]:
    """Every funnel's steps per day of entry and per ISO week, in total and by the platform of step 1 (a day also
    by step 1's `platform|app_version`), from the plan: each person's furthest attempt of the day (of the week),
    the earliest among equals; a week by platform counts each person under the platform of that attempt."""
    by_person: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for m in on_time:
        platform = traffic.devices[m.device].platform
        version = f"{platform}|{m.app_version}"
        by_person[m.person_key].append((m.event_time, m.message_id, m.kind, m.name, m.properties, platform, version))
    days = sorted({m.event_time.date() for m in on_time})
    truth: dict[str, dict[str, Any]] = {
        "daily": {},
        "daily_by_platform": {},
        "daily_by_app_version": {},
        "weekly": {},
        "weekly_by_platform": {},
    }
    for funnel in funnels:
        # (day, person) -> step times, platform, platform|app_version
        best: dict[tuple[date, str], tuple[list[datetime], str, str]] = {}
        for person, events in by_person.items():
            events.sort(key=lambda e: (e[0], e[1]))
            for index, event in enumerate(events):
                if not funnel.steps[0].matches(*event[2:5]):
                    continue
                times = _funnel_attempt(funnel, events, index)
                key = (event[0].date(), person)
                if key not in best or len(times) > len(best[key][0]):
                    best[key] = (times, event[5], event[6])
        weeks: dict[tuple[date, str], tuple[list[datetime], str]] = {}  # (Monday, person) -> step times, platform
        for (day, person), (times, platform, _) in sorted(best.items()):
            week = (day - timedelta(days=day.weekday()), person)
            if week not in weeks or len(times) > len(weeks[week][0]):
                weeks[week] = (times, platform)
        for day in days:
            entries = [(times, platform) for (d, _), (times, platform, _) in best.items() if d == day]
            truth["daily"].setdefault(day.isoformat(), {})[funnel.name] = _step_rows(funnel, [t for t, _ in entries])
            platforms = truth["daily_by_platform"].setdefault(day.isoformat(), {}).setdefault(funnel.name, {})
            for platform in sorted({p for _, p in entries}):
                platforms[platform] = _step_rows(funnel, [t for t, p in entries if p == platform])
            versioned = [(times, version) for (d, _), (times, _, version) in best.items() if d == day]
            versions = truth["daily_by_app_version"].setdefault(day.isoformat(), {}).setdefault(funnel.name, {})
            for version in sorted({v for _, v in versioned}):
                versions[version] = _step_rows(funnel, [t for t, v in versioned if v == version])
        for week_start in sorted({day - timedelta(days=day.weekday()) for day in days}):
            attempts = [(times, platform) for (w, _), (times, platform) in weeks.items() if w == week_start]
            truth["weekly"].setdefault(week_start.isoformat(), {})[funnel.name] = _step_rows(
                funnel, [t for t, _ in attempts]
            )
            platforms = truth["weekly_by_platform"].setdefault(week_start.isoformat(), {}).setdefault(funnel.name, {})
            for platform in sorted({p for _, p in attempts}):
                platforms[platform] = _step_rows(funnel, [t for t, p in attempts if p == platform])
    return truth


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _lifecycle_counts(
    active: dict[str, set[date]], first_seen: dict[str, date], now: tuple[date, date], before: tuple[date, date]
) -> dict[str, int]:
    """Lifecycle states of the people active in the period `now` (first, last day) against `before`."""

    def within(days: set[date], period: tuple[date, date]) -> bool:
        return any(period[0] <= day <= period[1] for day in days)

    current = {person for person, days in active.items() if within(days, now)}
    previous = {person for person, days in active.items() if within(days, before)}
    new = {person for person in current - previous if first_seen[person] >= now[0]}
    return {
        "active_users": len(current),
        "new_users": len(new),
        "returning_users": len(current & previous),
        "resurrecting_users": len(current - previous - new),
        "dormant_users": len(previous - current),
        "previous_active_users": len(previous),
    }


def lifecycle_retention_truth(
    traffic: Traffic, start_event: str | None = None, return_event: str | None = None
) -> dict[str, dict[str, dict[str, int]]]:
    """Lifecycle per day and ISO week (as of the window's last day in it), and retention of day and week cohorts,
    exactly and "or later" (docs/pipeline.md), from who sent what on time on which day, apart from the SQL.

    Retention has the first_seen definition, and the anchored one when `start_event` or `return_event` is given
    (event names: a track's event, a page's or screen's name, other messages' type). Keys: `day`, `week_start`,
    `day|platform` and `day|platform|app_version` for lifecycle by platform and by app version (each value's
    states on its own activity), and `cohort|definition|period` for cells (periods reached by the window's last
    day); the cells by app version
    (`retention_daily_by_app_version`, ...) `cohort|definition|platform|app_version|period`, each person under the
    platform and app version of the message that started their cohort (the earliest, by time then messageId)."""
    on_time = [m for m in traffic.messages if not m.resend and not m.too_late]
    active: dict[str, set[date]] = defaultdict(set)
    sent: dict[str, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
    firsts: dict[str, dict[str | None, tuple[Any, ...]]] = defaultdict(dict)  # person -> start event -> earliest
    # value (`platform`, `platform|app_version`) -> person -> days active with it: lifecycle by platform, version
    active_with: dict[str, dict[str, set[date]]] = defaultdict(lambda: defaultdict(set))
    for message in sorted(on_time, key=lambda m: (m.event_time, m.message_id)):
        day = message.event_time.date()
        active[message.person_key].add(day)
        platform = traffic.devices[message.device].platform
        for value in (platform, f"{platform}|{message.app_version or 'unknown'}"):
            active_with[value][message.person_key].add(day)
        name = message.name if message.kind in ("track", "page", "screen") else message.kind
        sent[message.person_key][day].add(name)
        acquired = (traffic.devices[message.device].platform, message.app_version or "unknown")
        for event in {None, name}:
            firsts[message.person_key].setdefault(event, acquired)
    first_seen = {person: min(days) for person, days in active.items()}
    first, last = traffic.start, traffic.start + timedelta(days=traffic.days - 1)
    window = [first + timedelta(days=n) for n in range(traffic.days)]
    one = timedelta(days=1)
    lifecycle_daily = {
        day.isoformat(): _lifecycle_counts(active, first_seen, (day, day), (day - one, day - one)) for day in window
    }
    lifecycle_weekly = {}
    for monday in sorted({_monday(day) for day in window}):
        through = min(monday + timedelta(days=6), last)
        before = (monday - timedelta(weeks=1), monday - one)
        lifecycle_weekly[monday.isoformat()] = _lifecycle_counts(active, first_seen, (monday, through), before)
    # By platform and by app version: each value's states judged on the activity with it alone (keys
    # `day|platform`, `day|platform|app_version`; rows for values someone was active with in the period or before).
    by: dict[str, dict[str, dict[str, int]]] = {
        f"lifecycle_{unit}_by_{grain}": {} for unit in ("daily", "weekly") for grain in ("platform", "app_version")
    }
    for value, people in sorted(active_with.items()):
        grain = "app_version" if "|" in value else "platform"
        seen = {person: min(days) for person, days in people.items()}
        periods = [("daily", day, (day, day), (day - one, day - one)) for day in window] + [
            (
                "weekly",
                monday,
                (monday, min(monday + timedelta(days=6), last)),
                (monday - timedelta(weeks=1), monday - one),
            )
            for monday in sorted({_monday(day) for day in window})
        ]
        for unit, key, now, before in periods:
            counts = _lifecycle_counts(people, seen, now, before)
            if counts["active_users"] or counts["previous_active_users"]:
                by[f"lifecycle_{unit}_by_{grain}"][f"{key.isoformat()}|{value}"] = counts

    def days_with(event: str | None) -> dict[str, set[date]]:
        if event is None:
            return active
        return {person: {day for day, names in by_day.items() if event in names} for person, by_day in sent.items()}

    definitions = {"first_seen": (active, active)}
    if start_event is not None or return_event is not None:
        definitions["anchored"] = (days_with(start_event), days_with(return_event))
    tables = ("retention_daily", "retention_weekly")
    cells: dict[str, dict[str, dict[str, int]]] = {
        name: {} for table in tables for name in (table, f"{table}_by_app_version")
    }
    for definition, (starts, returns) in definitions.items():
        start = start_event if definition == "anchored" else None
        cohorts: dict[date, dict[str, set[date]]] = defaultdict(dict)
        for person, days in starts.items():
            if days:
                cohort = min(days)
                cohorts[cohort][person] = {day for day in returns.get(person, set()) if day >= cohort}
        weeks: dict[date, dict[str, set[date]]] = defaultdict(dict)
        for cohort, people in cohorts.items():
            weeks[_monday(cohort)].update(people)
        for table, groups, unit, horizon in (
            ("retention_daily", cohorts, 1, 30),
            ("retention_weekly", weeks, 7, 12),
        ):
            for cohort, people in groups.items():
                end = cohort + timedelta(days=unit * (horizon + 1) - 1)
                acquired: dict[tuple[str, str], dict[str, set[date]]] = defaultdict(dict)
                for person, days in people.items():
                    acquired[firsts[person][start]][person] = days
                for split, (name, group) in [
                    ("", (table, people)),
                    *((f"{p}|{v}|", (f"{table}_by_app_version", g)) for (p, v), g in sorted(acquired.items())),
                ]:
                    for period in range(horizon + 1):
                        begins = cohort + timedelta(days=unit * period)
                        if begins > last:
                            break
                        ends = begins + timedelta(days=unit - 1)
                        cells[name][f"{cohort.isoformat()}|{definition}|{split}{period}"] = {
                            "cohort_size": len(group),
                            "retained": sum(1 for days in group.values() if any(begins <= d <= ends for d in days)),
                            "retained_or_later": sum(
                                1 for days in group.values() if any(begins <= d <= end for d in days)
                            ),
                        }
    return {"lifecycle_daily": lifecycle_daily, "lifecycle_weekly": lifecycle_weekly, **by, **cells}


def persona_truth(traffic: Traffic) -> dict[str, Any]:
    """What segments and recommendations should find: each customer's planted persona (`person_personas`, by the
    person the pipeline should stitch, for those who sent a planted feature on time), and after each persona
    feature the feature its persona habitually uses next (`habitual_next`, as path steps: `track: Rate Set`)."""
    planted = {m.person_key for m in traffic.messages if m.planted and not m.resend and not m.too_late}
    chains = {persona: [f"track: {feature}" for feature in chain] for persona, (_, chain) in PERSONAS.items()}
    return {
        "person_personas": {
            person.key: person.persona for person in traffic.people if person.persona and person.key in planted
        },
        "habitual_next": {
            step: chain[number + 1] for chain in chains.values() for number, step in enumerate(chain[:-1])
        },
    }
