"""Lake days written as a unit on a store without transactions: a commit record, written last.

S3 has no transaction over several objects, and a lake day is several: `raw_events` writes the raw
Parquet, the identity links and the profile; cleaning writes events and their quarantine. A run that
fails between them (S3 refusing, the process killed) would leave a day half new, half old or missing,
which the next run would read as complete. So a writer deletes the day's commit record before its first
object, writes its objects, and writes the record last; a reader takes a day with a record as complete,
a day with neither record nor objects as never built, and refuses a day with objects but no record,
naming it. A write that fails before its first object leaves the previous version committed.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import COMMITS, commit_key


@dataclass(frozen=True)
class Layer:
    """What one pipeline step writes per day, committed together."""

    name: str  # the folder of its commit records; kept as first named, since lakes hold records under it
    outputs: str  # what it holds, for messages


RAW_EVENTS = Layer("raw_events", "raw_events (the raw Parquet, its identity links and its profile)")
CLEANED_EVENTS = Layer("cleaned_events", "events and events_quarantine")
SESSIONIZED = Layer("sessionized", "sessionized_events and sessions")
DAILY_AGGREGATES = Layer("daily_aggregates", "daily_aggregates")


class IncompleteDay(FileNotFoundError):
    """A lake day with objects but no commit record: the run rewriting it failed part way.

    A FileNotFoundError, as callers treat a missing input: no complete version of the day is there.
    """


@dataclass
class DayWriter:
    """Puts a day's objects, uncommitting the day before the first, and remembers their keys."""

    store: ObjectStore
    record: str
    keys: list[str] = field(default_factory=list)

    def put_file(self, key: str, local_path: str | Path) -> None:
        self._uncommit()
        self.store.put_file(key, local_path)
        self.keys.append(key)

    def put(self, key: str, data: bytes) -> None:
        self._uncommit()
        self.store.put(key, data)
        self.keys.append(key)

    def _uncommit(self) -> None:
        if not self.keys:
            self.store.delete(self.record)


@contextmanager
def committing(store: ObjectStore, layer: Layer, day: date) -> Iterator[DayWriter]:
    """Let the caller write the day's objects through the writer; commit them if the block completes."""
    writer = DayWriter(store, commit_key(layer.name, day))
    yield writer
    document = {"layer": layer.name, "day": day.isoformat(), "objects": sorted(writer.keys)}
    writer.store.put(writer.record, json.dumps(document, indent=1, sort_keys=True).encode())


def is_committed(store: ObjectStore, layer: Layer, day: date) -> bool:
    """Whether the day's last write completed, without looking at its objects (for optional reads)."""
    return store.exists(commit_key(layer.name, day))


def committed(store: ObjectStore, layer: Layer, day: date, keys: list[str]) -> bool:
    """True for a committed day, False for a day never built (none of `keys` exist).

    Raises IncompleteDay for a day with some of `keys` but no commit record.
    """
    if is_committed(store, layer, day):
        return True
    present = [key for key in keys if store.exists(key)]
    if present:
        raise IncompleteDay(incomplete_message(store, layer, day, present))
    return False


def committed_days(store: ObjectStore, layer: Layer) -> set[date]:
    """Every day of the layer with a commit record, in one listing."""
    prefix = f"{COMMITS}/{layer.name}/date="
    return {
        date.fromisoformat(info.key.removeprefix(prefix).removesuffix(".json"))
        for info in store.list(f"{COMMITS}/{layer.name}")
        if info.key.startswith(prefix) and info.key.endswith(".json")
    }


def incomplete_message(store: ObjectStore, layer: Layer, day: date, present: list[str]) -> str:
    return (
        f"{layer.outputs} of {day.isoformat()} is incomplete: a run rewriting it stopped before its commit "
        f"record {store.uri(commit_key(layer.name, day))} was written, leaving {', '.join(present)}. "
        f"Nothing downstream reads the day until {layer.name} is materialized for {day.isoformat()} again."
    )
