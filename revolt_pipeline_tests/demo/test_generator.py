"""The demo's plan is deterministic and its ground truth is what a correct pipeline must find."""

from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise

import pytest

from revolt_pipeline.demo.generator import (
    LATENESS_WINDOW,
    SESSION_TIMEOUT,
    PlannedMessage,
    Traffic,
    ground_truth,
    plan_traffic,
)

START = date(2026, 11, 2)


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return plan_traffic(seed=11, users=120, days=7, start=START)


def test_the_same_seed_gives_the_same_traffic(traffic: Traffic) -> None:
    again = plan_traffic(seed=11, users=120, days=7, start=START)
    assert again.messages == traffic.messages
    assert ground_truth(again) == ground_truth(traffic)
    other = plan_traffic(seed=12, users=120, days=7, start=START)
    assert other.messages != traffic.messages


def test_traffic_has_the_mix_the_demo_promises(traffic: Traffic) -> None:
    totals = ground_truth(traffic)["totals"]
    platforms = {device.platform for device in traffic.devices}
    assert platforms == {"web", "desktop", "ios", "android", "slack", "hangouts", "google-assistant"}
    assert totals["anonymous_visitors"] > 0 and totals["identified_people"] > 0
    assert totals["duplicate_deliveries"] > 0
    assert totals["too_late"] > 0
    assert totals["malformed"] > 0
    assert totals["skewed_devices"] > 0
    assert totals["offline_deliveries"] > 0
    kinds = {m.kind for m in traffic.messages}
    assert kinds == {"track", "page", "screen", "identify", "group", "alias"}
    assert any(m.user_id is None for m in traffic.messages)  # anonymous before signing up
    weekdays = defaultdict(int)
    for message in traffic.messages:
        weekdays[message.event_time.weekday() < 5] += 1
    assert weekdays[True] / 5 > 3 * weekdays[False] / 2  # working-day seasonality


def sessionize(messages: list[PlannedMessage]) -> list[list[PlannedMessage]]:
    """The plain 30-minute inactivity rule, per person, written independently of the generator."""
    by_person: dict[str, list[PlannedMessage]] = defaultdict(list)
    for message in messages:
        by_person[message.person_key].append(message)
    sessions = []
    for events in by_person.values():
        events.sort(key=lambda m: (m.event_time, m.message_id))
        current = [events[0]]
        for previous, event in pairwise(events):
            if event.event_time - previous.event_time > SESSION_TIMEOUT:
                sessions.append(current)
                current = []
            current.append(event)
        sessions.append(current)
    return sessions


def test_ground_truth_matches_a_plain_sessionization_of_what_arrives_in_time(traffic: Traffic) -> None:
    truth = ground_truth(traffic)
    on_time = [m for m in traffic.messages if not m.resend and not m.too_late]
    sessions = sessionize(on_time)
    assert len(sessions) == truth["totals"]["sessions"]
    per_day: dict[str, int] = defaultdict(int)
    users: dict[str, set[str]] = defaultdict(set)
    for session in sessions:
        per_day[session[0].event_time.date().isoformat()] += 1
    for message in on_time:
        users[message.event_time.date().isoformat()].add(message.person_key)
    for day, figures in truth["days"].items():
        assert figures["sessions"] == per_day.get(day, 0)
        assert figures["daily_active_users"] == len(users[day])
    assert any(s["start"][:10] != s["end"][:10] for s in truth["sessions"]), "some session spans midnight UTC"


def test_lateness_never_splits_a_session(traffic: Traffic) -> None:
    by_session: dict[int, set[bool]] = defaultdict(set)
    for message in traffic.messages:
        if not message.resend:
            by_session[message.session].add(message.too_late)
    assert all(len(flags) == 1 for flags in by_session.values())
    delays = [m.send_time - m.event_time for m in traffic.messages if not m.resend]
    assert all(d < LATENESS_WINDOW - timedelta(hours=4) or d > LATENESS_WINDOW + timedelta(hours=4) for d in delays)


def test_a_one_day_window_plans_traffic_for_that_day() -> None:
    traffic = plan_traffic(seed=11, users=30, days=1, start=START)
    truth = ground_truth(traffic)
    assert list(truth["days"]) == [START.isoformat()]
    assert truth["days"][START.isoformat()]["daily_active_users"] > 0
