"""Plan a window of demo traffic: sessions, the messages in them, when each is sent, and the truth.

Pure and deterministic for a seed. Sessions of one person are kept more than 35 minutes apart and
events inside a session less than 20 minutes apart, so a 30-minute inactivity rule finds exactly the
sessions generated here. Offline sessions are delivered either well within or well beyond the
lateness window, never across it, so each session is wholly on time or wholly too late.
"""

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from revolt_pipeline.demo.population import Device, Person, build_population, stable_uuid

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
            last_end: datetime | None = None
            for day_number in range(self.traffic.days):
                for start in self._session_starts(person, day_number):
                    if last_end is not None and start < last_end + SESSION_GAP:
                        start = last_end + SESSION_GAP + timedelta(seconds=self.rng.uniform(0, 900))
                    if (start.date() - self.traffic.start).days >= self.traffic.days:
                        break  # the window is over
                    planned = len(self.traffic.messages)
                    last_end = self._session(person, day_number, _ms(start))
                    if self._faded(person, day_number):
                        del self.traffic.messages[planned:]
        self._add_duplicates_and_malformed()
        self.traffic.messages.sort(key=lambda m: (m.send_time, m.device, m.event_time, m.message_id))
        self.traffic.malformed.sort(key=lambda m: m.send_time)

    def _faded(self, person: Person, day_number: int) -> bool:
        """Whether a planned session of a person who fades does not happen. Decided apart from the plan's own
        random draws (the session is planned, then dropped), so the rest of the traffic stays as it was."""
        draw = random.Random(f"{self.traffic.seed}:{person.index}:{day_number}:{self.session_count}").random()
        return draw >= person.return_rate(day_number)

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

    def _session(self, person: Person, day_number: int, start: datetime) -> datetime:
        signing_up = person.signup_day == day_number and not any(d.identified for d in person.devices)
        device = self._pick_device(person, signing_up)
        session = self.session_count
        self.session_count += 1
        steps = self._steps(person, device, signing_up)
        moment = start
        times = []
        for _ in steps:
            times.append(moment)
            moment = _ms(
                moment + timedelta(seconds=min(MAX_EVENT_GAP_SECONDS, max(1.0, self.rng.expovariate(1 / 150))))
            )
        end = times[-1]
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
                    message_id=stable_uuid(self.rng),
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
        return end

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
                steps.append(("track", "Entry Saved", {"project": project, "duration_minutes": duration}, {}))
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
        rng = self.rng
        extra: list[PlannedMessage] = []
        for message in self.traffic.messages:
            if rng.random() < 0.012:
                # The SDK sent this batch, the acknowledgement was lost, the SDK sent it again.
                later = message.send_time + SEND_TICK * rng.randint(1, 3)
                extra.append(PlannedMessage(**{**message.__dict__, "send_time": later, "resend": True}))
            if message.kind == "track" and rng.random() < 0.005:
                self.traffic.malformed.append(self._malformed(message))
        self.traffic.messages.extend(extra)

    def _malformed(self, message: PlannedMessage) -> MalformedMessage:
        device = self.traffic.devices[message.device]
        base: dict[str, Any] = {
            "type": "track",
            "messageId": stable_uuid(self.rng),
            "userId": message.user_id,
            "anonymousId": message.anonymous_id,
            "event": message.name,
            "originalTimestamp": message.event_time.isoformat(timespec="milliseconds"),
            "properties": message.properties,
        }
        flaw = self.rng.randrange(4)
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
        **lifecycle_retention_truth(traffic),
    }


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
    and `cohort|definition|period` for cells (periods reached by the window's last day)."""
    on_time = [m for m in traffic.messages if not m.resend and not m.too_late]
    active: dict[str, set[date]] = defaultdict(set)
    sent: dict[str, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
    for message in on_time:
        day = message.event_time.date()
        active[message.person_key].add(day)
        sent[message.person_key][day].add(message.name if message.kind in ("track", "page", "screen") else message.kind)
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

    def days_with(event: str | None) -> dict[str, set[date]]:
        if event is None:
            return active
        return {person: {day for day, names in by_day.items() if event in names} for person, by_day in sent.items()}

    definitions = {"first_seen": (active, active)}
    if start_event is not None or return_event is not None:
        definitions["anchored"] = (days_with(start_event), days_with(return_event))
    cells: dict[str, dict[str, dict[str, int]]] = {"retention_daily": {}, "retention_weekly": {}}
    for definition, (starts, returns) in definitions.items():
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
                for period in range(horizon + 1):
                    begins = cohort + timedelta(days=unit * period)
                    if begins > last:
                        break
                    ends = begins + timedelta(days=unit - 1)
                    cells[table][f"{cohort.isoformat()}|{definition}|{period}"] = {
                        "cohort_size": len(people),
                        "retained": sum(1 for days in people.values() if any(begins <= d <= ends for d in days)),
                        "retained_or_later": sum(
                            1 for days in people.values() if any(begins <= d <= end for d in days)
                        ),
                    }
    return {"lifecycle_daily": lifecycle_daily, "lifecycle_weekly": lifecycle_weekly, **cells}
