"""The people layer of event days: person days, the people snapshot, and active users, built day after day.

A day reads its own sessionized events and sessions, the people snapshot of the day before, the person days
of the MAU window and the identity links: never the history before them, so one day costs the same after
a week or a year. Days are built in order, each from the snapshot the previous one wrote.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committed_days, committing
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import arrow_schema, replace_snapshot
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    active_users_key,
    people_key,
    people_report_key,
    person_days_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.actives import active_users_query, stage_window
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet
from revolt_pipeline.transforms.people import (
    NO_EVENTS,
    NO_SESSIONS,
    PeopleCounts,
    PersonDayCounts,
    count_people,
    count_person_days,
    people_query,
    person_days_query,
    restitched_sql,
    stitch_people,
)
from revolt_pipeline.transforms.people_reports import (
    NO_PERSON_SESSIONS,
    people_report_query,
    person_days_report_query,
    person_sessions_report_query,
)
from revolt_pipeline.transforms.rules import PipelineRules

PEOPLE = Layer("people", "person_days, people and active_users")
# The report tables of people, and the query shaping a day's lake rows (person days, snapshot) into theirs.
PEOPLE_TABLES = (schema.person_days, schema.people)
# Each active-users report table and its grain.
ACTIVE_USERS_TABLES = tuple((table, grain) for grain, table in schema.ACTIVE_USERS_TABLES.items())


@dataclass
class PeopleDay:
    day: date
    person_days: int
    counts: PeopleCounts
    person_day_counts: PersonDayCounts
    person_days_path: str
    people_path: str
    actives: dict[str, str]  # report table -> local Parquet file of the day's rows


def build_people_days(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, days: list[date], rules: PipelineRules, workdir: Path
) -> list[PeopleDay]:
    """`person_days`, `people` and the active users of each day, in date order (each snapshot reads the last)."""
    with local_copies(store, committed_identity_links(store)) as link_files:
        person_map = stitch_people(connection, link_files)
        return [_people_day(store, connection, day, rules, workdir, person_map) for day in sorted(days)]


def _previous_snapshot(store: ObjectStore, day: date) -> str | None:
    """The key of the snapshot of the day before, None when no people day was built before `day`.

    A missing snapshot after an earlier one is a gap that would silently forget everyone: refused.
    """
    before = day - timedelta(days=1)
    if committed(store, PEOPLE, before, [people_key(before)]):
        return people_key(before)
    earlier = [built for built in committed_days(store, PEOPLE) if built < day]
    if earlier:
        raise FileNotFoundError(
            f"no people snapshot of {before} (the last before it is of {max(earlier)}): build people from "
            f"{max(earlier) + timedelta(days=1)} on, in order"
        )
    return None


def _people_day(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    day: date,
    rules: PipelineRules,
    workdir: Path,
    person_map: str,
) -> PeopleDay:
    # A day the cleaned layer never built had nothing received: no one was active (a half-written day raises).
    inputs = [sessionized_events_key(day), sessions_key(day)]
    if not committed(store, SESSIONIZED, day, inputs):
        inputs = []
    previous_key = _previous_snapshot(store, day)
    window = [
        d for d in rules.actives_window.days(day) if d < day and committed(store, PEOPLE, d, [person_days_key(d)])
    ]
    person_days_path = str(workdir / f"person_days-{day}.parquet")
    people_path = str(workdir / f"people-{day}.parquet")
    with (
        local_copies(store, inputs) as day_files,
        local_copies(store, [previous_key] if previous_key else []) as previous,
        local_copies(store, [person_days_key(d) for d in window]) as window_paths,
    ):
        previous_path = previous[0] if previous else None
        events, sessions = (parquet(day_files[0]), parquet(day_files[1])) if day_files else (NO_EVENTS, NO_SESSIONS)
        person_days = copy_to_parquet(
            connection, person_days_query(events, sessions, day, person_map), person_days_path
        )
        copy_to_parquet(connection, people_query(previous_path, person_days_path, day, person_map), people_path)
        counts = count_people(connection, previous_path, people_path, day, person_map)
        person_day_counts = count_person_days(connection, person_days_path, events, sessions, person_map)
        window_files = {**dict(zip(window, window_paths, strict=True)), day: person_days_path}
        window_rows = stage_window(connection, window_files, day, person_map)
        actives = {}
        for table, grain in ACTIVE_USERS_TABLES:
            path = str(workdir / f"{table.name}-{day}.parquet")
            query = active_users_query(window_rows, people_path, day, rules.actives_window, grain)
            copy_to_parquet(connection, query, path)
            actives[table.name] = path
        reports = _report_rows(connection, person_days_path, people_path, day, workdir)
        # The day's sessions, each with its person as person_days stitches them: a person's timeline of sessions.
        day_sessions = restitched_sql(sessions, person_map) if day_files else NO_PERSON_SESSIONS
        reports[schema.person_sessions.name] = str(workdir / f"report-person_sessions-{day}.parquet")
        copy_to_parquet(
            connection, person_sessions_report_query(day_sessions, day), reports[schema.person_sessions.name]
        )
    with committing(store, PEOPLE, day) as commit:
        commit.put_file(person_days_key(day), person_days_path)
        commit.put_file(people_key(day), people_path)
        for name, path in actives.items():
            commit.put_file(active_users_key(name, day), path)
        for name, path in reports.items():
            commit.put_file(people_report_key(name, day), path)
    return PeopleDay(day, person_days, counts, person_day_counts, person_days_path, people_path, actives)


def load_active_users(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of an active-users report table with the lake's; returns the rows."""
    keys = {day: active_users_key(table.name, day) for day in days}
    return load_lake_days(engine, store, table, keys, PEOPLE, "people")


def _report_rows(
    connection: duckdb.DuckDBPyConnection, person_days_path: str, people_path: str, day: date, workdir: Path
) -> dict[str, str]:
    """The day's person days and snapshot in the shape of their report tables, as local Parquet files."""
    queries = {
        schema.person_days.name: person_days_report_query(person_days_path),
        schema.people.name: people_report_query(people_path),
    }
    paths = {}
    for name, query in queries.items():
        paths[name] = str(workdir / f"report-{name}-{day}.parquet")
        copy_to_parquet(connection, query, paths[name])
    return paths


def load_person_days(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of a report table the people layer writes per day (`person_days`,
    `person_sessions`) with the lake's; returns the rows."""
    keys = {day: people_report_key(table.name, day) for day in days}
    return load_lake_days(engine, store, table, keys, PEOPLE, "people")


@dataclass(frozen=True)
class LoadedPeople:
    """What a load of the `people` report table did: the snapshot it loaded, and the one the table holds."""

    loaded: date  # the latest day the people layer built, whose snapshot was loaded
    held: date  # the day the table is as of now (later than `loaded` if a later load came first)
    rows: pa.Table


def load_people(engine: sa.Engine, store: ObjectStore, table: sa.Table = schema.people) -> LoadedPeople:
    """Replace the `people` report table with the snapshot of the latest day the people layer built.

    Whatever day a run is of, the table takes the newest snapshot: a run of an older day (which the cascade
    follows with every later day) never rolls it back, and people merged into another by a late identify
    leave it as soon as the snapshot that merged them is built.
    """
    built = committed_days(store, PEOPLE)
    if not built:
        raise FileNotFoundError("no day of people in the lake: build people first")
    latest = max(built)
    key = people_report_key(table.name, latest)
    if not committed(store, PEOPLE, latest, [key]):
        raise FileNotFoundError(f"no {key} in the lake: build people for {latest} again")
    target = arrow_schema(table)
    with local_copies(store, [key]) as (path,):
        rows = pq.read_table(path)
    if sorted(rows.column_names) != sorted(target.names):
        raise FileNotFoundError(
            f"{key} has the columns {rows.column_names}, not the report table's {target.names}: it was written by "
            f"an older version; build people for {latest} again"
        )
    rows = rows.select(target.names).cast(target)
    held = replace_snapshot(engine, table, rows, latest)
    return LoadedPeople(latest, held, rows)
