"""The retention policy: data as the apps sent it, received more than REVOLT_RAW_RETENTION_DAYS days ago, deleted.

Per received day older than the limit, what goes:
- the collector's landed objects (`landing/received_date=D/`) and the bodies it refused (`quarantine/...`);
- the raw Parquet (`raw_events/received_date=D/events.parquet`): every message as sent.

What stays: the day's identity links (every later cleaning stitches with the links of every day; a deletion request
removes a person's) and its profile (property names, JSON types and counts, no value: `event_catalog` is loaded from
it), with the day's commit record, rewritten to list them and to say what expired when. The cleaned layer and
everything built from it are kept: their personal values are hashed or dropped by cleaning (docs/privacy.md).

Nothing the pipeline still reads goes: the limit may not be shorter than `minimum_days(rules)`, the received days
a new day's cascade can still clean from (late events reopen older event days, whose sessions reopen their
neighbours). A later rebuild of a day whose raw rows expired (a backfill, a late identify re-stitching a person's
old days) is refused by `refuse_expired_raw`, naming the day, before anything is written: the day's cleaned events
stay as built, where rebuilding them from what is left would lose them.

A landed day older than the limit that was never built into `raw_events` is kept and reported (`unbuilt`): its
events were never processed, and deleting them is for a person to decide.

Idempotent and resumable: a run lists what is there and deletes it, marking a raw day expired before deleting its
Parquet, so a run stopped half way is finished by the next; a run with nothing left to delete deletes nothing.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from revolt_pipeline.layers.commits import RAW_EVENTS, committed_days
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, QUARANTINE, commit_key, raw_events_key
from revolt_pipeline.transforms.rules import PipelineRules

RAW_EVENTS_FOLDER = "raw_events"
# The commit record's entry saying what of a raw day expired, and when.
EXPIRED = "expired"


def minimum_days(rules: PipelineRules) -> int:
    """The shortest limit that deletes no raw day the cascade of a newly received day can read: events received
    yesterday reopen event days up to the lateness window before, the days whose sessions read those, and cleaning
    reads one received day before each."""
    return 1 + rules.lateness_days + rules.session_window.before + rules.cleaning_window.before


def check_retention_days(days: int, rules: PipelineRules) -> None:
    """Refuse a limit that would delete what the pipeline still reads (0 keeps everything)."""
    if days < 0 or 0 < days < minimum_days(rules):
        raise ValueError(
            f"REVOLT_RAW_RETENTION_DAYS must be 0 (keep forever) or at least {minimum_days(rules)} days, the received "
            f"days the pipeline still cleans from with a lateness of {rules.lateness_days} days; got {days}"
        )


class RawDayExpired(FileNotFoundError):
    """A step needs raw rows the retention policy deleted: its day is kept as built instead of rebuilt from less."""


@dataclass
class RetentionRun:
    """What one run of the policy deleted, per layer and received day, and what it had to keep."""

    cutoff: date  # received days before it have expired
    landing: dict[str, int] = field(default_factory=dict)  # received day -> landed objects deleted
    quarantine: dict[str, int] = field(default_factory=dict)  # received day -> refused bodies deleted
    raw_events: list[str] = field(default_factory=list)  # received days whose raw Parquet was deleted
    unbuilt: list[str] = field(default_factory=list)  # landed days kept: never built into raw_events

    @property
    def deleted_objects(self) -> int:
        return sum(self.landing.values()) + sum(self.quarantine.values()) + len(self.raw_events)


def cutoff_of(today: date, days: int) -> date:
    """The first received day kept on `today`: days received before it have expired."""
    return today - timedelta(days=days)


def apply_retention_policy(store: ObjectStore, today: date, days: int, rules: PipelineRules) -> RetentionRun:
    """Delete the landing objects and raw Parquet of every received day before `cutoff_of(today, days)`."""
    check_retention_days(days, rules)
    run = RetentionRun(cutoff=cutoff_of(today, days))
    if not days:
        return run
    built = committed_days(store, RAW_EVENTS)
    for day in _days_with_objects(store, f"{RAW_EVENTS_FOLDER}/"):
        if day < run.cutoff and day in built:
            _expire_raw_day(store, day, today)
            run.raw_events.append(day.isoformat())
    for area, deleted in ((LANDING, run.landing), (QUARANTINE, run.quarantine)):
        for day, keys in _objects_by_day(store, f"{area}/").items():
            if day >= run.cutoff:
                continue
            if area == LANDING and day not in built:
                run.unbuilt.append(day.isoformat())
                continue
            for key in keys:
                store.delete(key)
                _remove_empty_folders(store, key, area)
            deleted[day.isoformat()] = len(keys)
    return run


def expired_raw_days(store: ObjectStore, days: Iterable[date]) -> dict[date, str]:
    """The days among `days` whose raw rows the policy deleted, with when."""
    expired = {}
    for day in sorted(set(days)):
        try:
            record = json.loads(store.get(commit_key(RAW_EVENTS.name, day)))
        except FileNotFoundError:
            continue
        if EXPIRED in record:
            expired[day] = record[EXPIRED]["at"]
    return expired


def refuse_expired_raw(store: ObjectStore, days: Iterable[date], step: str) -> None:
    """Raise RawDayExpired when `step` would read a raw day the policy deleted, before it writes anything."""
    expired = expired_raw_days(store, days)
    if expired:
        named = ", ".join(f"{day} (on {at})" for day, at in sorted(expired.items()))
        raise RawDayExpired(
            f"{step} reads raw days the retention policy deleted (REVOLT_RAW_RETENTION_DAYS): {named}. What was "
            "built from them is kept as it is; rebuilding it from what is left would lose their events."
        )


def _expire_raw_day(store: ObjectStore, day: date, today: date) -> None:
    """Mark the day's commit record expired (listing what stays), then delete its raw Parquet: in that order, so
    that a run stopped between the two leaves no record naming a deleted object."""
    key = commit_key(RAW_EVENTS.name, day)
    record = json.loads(store.get(key))
    if EXPIRED not in record:
        parquet = raw_events_key(day)
        record["objects"] = [name for name in record.get("objects", []) if name != parquet]
        record[EXPIRED] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "objects": [parquet],
            "on": str(today),
        }
        store.put(key, json.dumps(record, indent=1, sort_keys=True).encode())
    store.delete(raw_events_key(day))
    _remove_empty_folders(store, raw_events_key(day), RAW_EVENTS_FOLDER)


def _day_of(key: str) -> date | None:
    """The received day of a key under `<area>/received_date=YYYY-MM-DD/...`."""
    _, _, rest = key.partition("received_date=")
    try:
        return date.fromisoformat(rest[:10])
    except ValueError:
        return None


def _objects_by_day(store: ObjectStore, prefix: str) -> dict[date, list[str]]:
    by_day: dict[date, list[str]] = defaultdict(list)
    for info in store.list(prefix):
        day = _day_of(info.key)
        if day is not None:
            by_day[day].append(info.key)
    return dict(by_day)


def _days_with_objects(store: ObjectStore, prefix: str) -> list[date]:
    return sorted(_objects_by_day(store, prefix))


def _remove_empty_folders(store: ObjectStore, key: str, area: str) -> None:
    """A local store keeps folders once their objects go: remove those left empty, up to the area's own."""
    path = store.local_path(key)
    if path is None:
        return
    folder, top = Path(path).parent, Path(store.local_path(area) or path).resolve()
    while folder.resolve() != top and top in folder.resolve().parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty, or gone
        folder = folder.parent
