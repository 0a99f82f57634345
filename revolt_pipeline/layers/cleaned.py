"""The cleaned layer of event days: events and quarantine, sessions, daily aggregates."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from revolt_pipeline.layers.commits import (
    CLEANED_EVENTS,
    DAILY_AGGREGATES,
    RAW_EVENTS,
    SESSIONIZED,
    IncompleteDay,
    committed,
    committed_days,
    committing,
    incomplete_message,
)
from revolt_pipeline.layers.retention_policy import refuse_expired_raw
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    IDENTITY_LINKS,
    aggregate_key,
    events_key,
    events_quarantine_key,
    identity_links_key,
    raw_events_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.aggregates import (
    AGGREGATES,
    aggregate_query,
    count_made_safe,
    count_path_balance,
    events_balance,
    stage_event_groups,
    stage_path_sessions,
)
from revolt_pipeline.transforms.cleaning import clean_events, count_cleaned, raw_window
from revolt_pipeline.transforms.engine import copy_to_parquet
from revolt_pipeline.transforms.paths import PathBalance
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline.transforms.sessions import (
    count_sessions,
    sessionize,
    sessionized_events_query,
    sessions_query,
)

__all__ = ["AGGREGATES", "AggregateDay", "CleanDay", "SessionDay", "aggregate_day", "clean_days", "sessionize_day"]


@dataclass
class CleanDay:
    day: date
    assigned_rows: int
    events: int
    distinct_message_ids: int
    null_counts: dict[str, int]
    quarantined: dict[str, int]
    events_path: str
    quarantine_path: str

    @property
    def quarantined_rows(self) -> int:
        return sum(self.quarantined.values())

    @property
    def reconciled(self) -> bool:
        """Every raw row assigned to the day is an event or quarantined: nothing went missing."""
        return self.assigned_rows == self.events + self.quarantined_rows


def clean_days(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, days: list[date], rules: PipelineRules, workdir: Path
) -> Iterator[CleanDay]:
    """Write `events` and `events_quarantine` for each day, yielding what each day held.

    Reads committed raw days only, and refuses to run while a raw day is incomplete (its rows or its identity links
    would be read as they were left by a failed run) or expired (the retention policy deleted its rows).
    """
    empty_raw = str(workdir / "empty-raw.parquet")
    windows = {received for day in days for received in raw_window(day, rules)}
    refuse_expired_raw(store, windows, f"cleaning {', '.join(str(day) for day in days)}")
    link_keys = committed_identity_links(store)
    with local_copies(store, link_keys) as link_files:
        for day in days:
            window = [d for d in raw_window(day, rules) if committed(store, RAW_EVENTS, d, [raw_events_key(d)])]
            with local_copies(store, [raw_events_key(d) for d in window]) as raw_paths:
                raw_files = dict(zip(window, raw_paths, strict=True))
                if not raw_files:  # made only when needed: the raw layer's SQL is DuckDB's alone so far
                    consolidate_landed(connection, [], empty_raw)
                    raw_files = {day: empty_raw}
                result = clean_events(
                    connection, event_date=day, raw_files=raw_files, link_files=link_files, rules=rules
                )
                events_path = str(workdir / f"events-{day}.parquet")
                quarantine_path = str(workdir / f"quarantine-{day}.parquet")
                events = copy_to_parquet(connection, result.events_query, events_path)
                copy_to_parquet(connection, result.quarantine_query, quarantine_path)
            counts = count_cleaned(connection, events_path, quarantine_path)
            with committing(store, CLEANED_EVENTS, day) as commit:
                commit.put_file(events_key(day), events_path)
                commit.put_file(events_quarantine_key(day), quarantine_path)
            yield CleanDay(
                day=day,
                assigned_rows=result.assigned_rows,
                events=events,
                distinct_message_ids=counts.distinct_message_ids,
                null_counts=counts.null_counts,
                quarantined=counts.quarantined,
                events_path=events_path,
                quarantine_path=quarantine_path,
            )


def committed_identity_links(store: ObjectStore) -> list[str]:
    """Every raw day's identity links, or IncompleteDay for links a failed raw run left uncommitted."""
    committed_links = {identity_links_key(day) for day in committed_days(store, RAW_EVENTS)}
    keys = [info.key for info in store.list(IDENTITY_LINKS)]
    stray = [key for key in keys if key not in committed_links]
    if stray:
        day = date.fromisoformat(stray[0].split("received_date=", 1)[1][:10])
        raise IncompleteDay(incomplete_message(store, RAW_EVENTS, day, stray[:1]))
    return keys


@dataclass
class SessionDay:
    day: date
    cleaned_events: int
    sessionized_events: int
    events_without_session: int
    sessions: int
    inconsistent_sessions: int
    events_path: str
    sessions_path: str


def sessionize_day(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, day: date, rules: PipelineRules, workdir: Path
) -> SessionDay:
    """Write `sessionized_events` and `sessions` for a day from the cleaned events around it."""
    window = [d for d in rules.session_window.days(day) if committed(store, CLEANED_EVENTS, d, [events_key(d)])]
    if day not in window:
        raise FileNotFoundError(f"no cleaned events for {day}: build `events` for it first")
    with local_copies(store, [events_key(d) for d in window]) as paths:
        sessionized = sessionize(connection, dict(zip(window, paths, strict=True)), rules)
        day_events = paths[window.index(day)]
        cleaned = pq.ParquetFile(day_events).metadata.num_rows
        events_path = str(workdir / f"sessionized-{day}.parquet")
        sessions_path = str(workdir / f"sessions-{day}.parquet")
        copy_to_parquet(connection, sessionized_events_query(sessionized, day_events, day), events_path)
        sessions = copy_to_parquet(connection, sessions_query(sessionized, day), sessions_path)
    counts = count_sessions(connection, events_path, sessions_path, day, rules)
    with committing(store, SESSIONIZED, day) as commit:
        commit.put_file(sessionized_events_key(day), events_path)
        commit.put_file(sessions_key(day), sessions_path)
    return SessionDay(
        day,
        cleaned,
        counts.sessionized_events,
        counts.events_without_session,
        sessions,
        counts.inconsistent_sessions,
        events_path,
        sessions_path,
    )


@dataclass
class AggregateDay:
    day: date
    outputs: dict[str, str]  # aggregate name -> local Parquet file
    made_safe: dict[str, int]  # report column -> distinct values the report-text rule changed
    paths: list[PathBalance] = field(default_factory=list)  # each grain's paths against the day's sessions
    # Events breakdowns that do not add up to the grain they sum into (`events_balance`); none on a good day.
    unbalanced_events: list[str] = field(default_factory=list)


def aggregate_day(store: ObjectStore, connection: duckdb.DuckDBPyConnection, day: date, workdir: Path) -> AggregateDay:
    """Write every daily aggregate of a day; returns the local Parquet file of each, what was made safe, and how
    the paths balance."""
    inputs = [sessionized_events_key(day), sessions_key(day)]
    if not committed(store, SESSIONIZED, day, inputs):
        raise FileNotFoundError(f"no sessions for {day}: build sessionized_events and sessions for it first")
    outputs = {}
    with local_copies(store, inputs) as (events_path, sessions_path):
        if "steps" not in pq.read_schema(sessions_path).names:
            # Sessions written before paths existed: the paths of their day cannot be told without them.
            raise FileNotFoundError(
                f"the sessions of {day} were written by an older version, without their steps: build "
                "sessionized_events and sessions for the day again (clean_job)"
            )
        paths = stage_path_sessions(connection, sessions_path)
        groups = stage_event_groups(connection, events_path)
        for name in AGGREGATES:
            path = str(workdir / f"{name}-{day}.parquet")
            copy_to_parquet(connection, aggregate_query(name, events_path, sessions_path, day, paths, groups), path)
            outputs[name] = path
        made_safe = count_made_safe(connection, events_path)
        balance = count_path_balance(connection, outputs, sessions_path)
        unbalanced_events = events_balance(connection, outputs)
    with committing(store, DAILY_AGGREGATES, day) as commit:
        for name, path in outputs.items():
            commit.put_file(aggregate_key(name, day), path)
    return AggregateDay(day, outputs, made_safe, balance, unbalanced_events)
